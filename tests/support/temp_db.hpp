// A SQLite file for one test: a fresh path under the temporary directory (the process id keeps
// parallel test processes apart), removed with its -wal and -shm companions when the object goes.
// Declare it before the store that uses it, so the store is closed first.
#pragma once

#include <filesystem>
#include <string>
#include <unistd.h>

namespace relaylink::test {

class temp_db {
public:
    explicit temp_db(const std::string& name)
        : path_((std::filesystem::temp_directory_path() / ("relaylink-" + name + "-" + std::to_string(::getpid()) + ".db")).string()) {
        remove();
    }
    ~temp_db() { remove(); }
    temp_db(const temp_db&) = delete;
    temp_db& operator=(const temp_db&) = delete;

    const std::string& path() const noexcept { return path_; }

private:
    void remove() const {
        std::error_code ec; // best effort: a file already gone is fine
        for (auto suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path_ + suffix, ec);
    }
    std::string path_;
};

} // namespace relaylink::test
