// FuzzFile: a fuzz input as a file reachable by path (/proc/self/fd/N of a memfd), so the
// parsers open it exactly as the engine opens a model file. Falls back to a temp file where
// memfd is unavailable. Shared by the GGUF and safetensors fuzz targets.
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <string>

struct FuzzFile {
    int fd = -1;
    std::string path;
    bool temp = false;

    // name: the memfd's name and the temp file's prefix (e.g. "gguf_fuzz").
    FuzzFile(const char* name, const uint8_t* data, size_t size) {
        fd = ::memfd_create(name, MFD_CLOEXEC);
        if (fd >= 0) {
            path = "/proc/self/fd/" + std::to_string(fd);
        } else {
            std::string tmpl = std::string("/tmp/") + name + "_XXXXXX";
            fd = ::mkstemp(tmpl.data());
            path = tmpl;
            temp = true;
        }
        if (fd < 0) return;
        size_t done = 0;
        while (done < size) {
            ssize_t r = ::write(fd, data + done, size - done);
            if (r <= 0) break;
            done += size_t(r);
        }
    }
    ~FuzzFile() {
        if (fd >= 0) ::close(fd);
        if (temp) ::unlink(path.c_str());
    }
    FuzzFile(const FuzzFile&) = delete;
    FuzzFile& operator=(const FuzzFile&) = delete;
};
