// Probe for the registration test (tests/test_plugins_build.py), run against fake_nvinfer.cpp's
// stand-in libnvinfer.so.<major>. It links neither TensorRT nor the plugin library.
//
//   preload_probe <soname>            prints what the process's libnvinfer has registered, or
//                                     "no libnvinfer" when none is loaded: run with
//                                     LD_PRELOAD=<plugin library> (and without, as the control)
//   preload_probe <soname> <library>  first loads <soname> (as `import tensorrt` does), then
//                                     <library>, calls its redrafterRegisterPlugins() twice and prints
//                                     both results and the registrations
#include <dlfcn.h>

#include <cstdint>
#include <cstdio>

namespace
{

int printRegistered(char const* soname)
{
    void* nvinfer = dlopen(soname, RTLD_NOW | RTLD_NOLOAD);
    if (nvinfer == nullptr)
    {
        std::printf("no libnvinfer\n");
        return 0;
    }
    using Registered = char const* (*) ();
    auto const registered = reinterpret_cast<Registered>(dlsym(nvinfer, "fakeRegistered"));
    std::printf("registered: %s\n", registered != nullptr ? registered() : "(not the fake)");
    return registered != nullptr ? 0 : 1;
}

} // namespace

int main(int argc, char** argv)
{
    if (argc < 2)
    {
        std::fprintf(stderr, "usage: preload_probe <soname> [<plugin library>]\n");
        return 2;
    }
    if (argc == 3)
    {
        if (dlopen(argv[1], RTLD_NOW | RTLD_GLOBAL) == nullptr)
        {
            std::fprintf(stderr, "cannot load %s: %s\n", argv[1], dlerror());
            return 1;
        }
        void* library = dlopen(argv[2], RTLD_NOW | RTLD_GLOBAL);
        using Register = int32_t (*)();
        auto const reg = library != nullptr
            ? reinterpret_cast<Register>(dlsym(library, "redrafterRegisterPlugins"))
            : nullptr;
        if (reg == nullptr)
        {
            std::fprintf(stderr, "cannot load %s or find redrafterRegisterPlugins: %s\n", argv[2], dlerror());
            return 1;
        }
        int32_t const first = reg();
        int32_t const second = reg();
        std::printf("redrafterRegisterPlugins: %d %d\n", first, second);
    }
    return printRegistered(argv[1]);
}
