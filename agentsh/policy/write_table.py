"""The data writes.py reads: which programs write to their operands, which options name a
file or directory a program writes to, and which take a value (so that word is no operand).
"""

from __future__ import annotations

# Programs whose operands they create, change or delete.  Value: which operands.
#   "all": every operand; "last": the last one (cp's destination); "after-first": all but the
#   first (chmod MODE FILE...); "compress": every operand unless the output goes to stdout
#   (gzip FILE writes FILE.gz beside it and deletes FILE); "mktemp": the template, in -p DIR.
WRITERS: dict[str, str] = {
    "rm": "all", "rmdir": "all", "mkdir": "all", "touch": "all", "tee": "all", "truncate": "all",
    "shred": "all", "unlink": "all", "mv": "all", "ln": "last", "cp": "last", "install": "last",
    "chmod": "after-first", "chown": "after-first", "chgrp": "after-first", "mkfifo": "all",
    "mknod": "all", "rsync": "last", "scp": "last", "dd": "of", "sed": "in-place", "split": "last",
    "patch": "all", "tar": "none", "unzip": "none", "sort": "none", "uniq": "last", "tree": "none",
    "zip": "first", "find": "find-delete", "strace": "none", "ltrace": "none", "wget": "none", "curl": "none",
    "gzip": "compress", "gunzip": "compress", "bzip2": "compress", "bunzip2": "compress",
    "xz": "compress", "unxz": "compress", "lzma": "compress", "unlzma": "compress", "zstd": "compress",
    "unzstd": "compress", "mktemp": "mktemp", "xxd": "last",
    # `ar rc LIB.a x.o`: the archive (the members too, fail closed); ranlib rewrites each operand
    "ar": "after-first", "ranlib": "all", "cmake": "cmake-e",
    # `file -C -m MAGIC` compiles MAGIC into MAGIC.mgc in the working directory
    "file": "compile",
}
# `cmake -E COMMAND ARGS`: the commands that change files (every ARG counted, sources too).
CMAKE_E_WRITES = frozenset({"copy", "copy_directory", "copy_directory_if_different", "copy_if_different",
                             "rename", "rm", "remove", "remove_directory", "make_directory", "touch",
                             "touch_nocreate", "create_symlink", "create_hardlink", "tar"})
# Options whose value a program writes to: `--output=FILE`, `-o FILE`, `-t DIR`.
OUTPUT_OPTIONS: dict[str, tuple[str, ...]] = {
    "cp": ("-t", "--target-directory"), "mv": ("-t", "--target-directory"),
    "install": ("-t", "--target-directory"), "ln": ("-t", "--target-directory"),
    "sort": ("-o", "--output", "-T", "--temporary-directory"),
    "tar": ("-C", "--directory", "-f", "--file", "-g", "--listed-incremental", "--index-file", "--volno-file"),
    "unzip": ("-d",), "curl": ("-o", "--output"),
    "wget": ("-O", "--output-document", "-P", "--directory-prefix", "-o", "--output-file", "-a",
             "--append-output"), "git": ("--output", "-o", "--output-directory"),
    "tree": ("-o",), "split": ("--additional-suffix",), "strace": ("-o", "--output"),
    "ltrace": ("-o", "--output"), "patch": ("-o", "--output", "-r", "--reject-file", "-d", "--directory"),
    "mktemp": ("-p", "--tmpdir"), "iconv": ("-o", "--output"),
    # `ar x --output=DIR LIB.a` extracts into DIR (writes.py: the working directory without it)
    "ar": ("--output",),
    # (the compilers, ld and as: compilers.py reads every file they write, -o with the rest)
    # cmake's build tree (-B, and the tree --build and --install work in: --install writes its
    # install_manifest.txt there), the install prefix, and its graph, trace and profile files
    "cmake": ("-B", "--build", "--install", "--prefix", "--install-prefix", "--graphviz", "--system-information",
              "--trace-redirect", "--profiling-output"),
    # GNU time writes its report, in the -f format it is given, to -o FILE
    "time": ("-o", "--output"),
    # less copies a piped input to its log file when its output is a terminal (base.yaml's
    # LESSSECURE=1 turns that off; a profile that does not extend base keeps it)
    "less": ("-o", "--log-file", "-O", "--LOG-FILE"),
    # kubectl writes its profiling data and its discovery cache there (`--profile=cpu` alone
    # writes ./profile.pprof: read as an abbreviation, its value is checked in that directory)
    "kubectl": ("--profile-output", "--cache-dir"),
    # pip's log (in every subcommand: `pip show --log ~/.bashrc 'x;cmd'` logs the name it did
    # not find, a command line for the next shell), its cache, and where it installs, downloads
    # and builds wheels to
    **dict.fromkeys(("pip", "pip3", *(f"pip3.{minor}" for minor in range(6, 16))),
                    ("--log", "--log-file", "--local-log", "--cache-dir", "-t", "--target", "--prefix", "--root",
                     "--src", "--report", "-d", "--dest", "-w", "--wheel-dir")),
    # npm's debug logs and its cache (npm is npm-cli.js once its link is followed)
    **dict.fromkeys(("npm", "npm-cli.js"), ("--logs-dir", "--cache")),
}
# Each program's output options as (short letters, long names), for a quick look whether a
# line can hold one at all.
# The long names are joined after NULs, so that `"\0" + word in longs` asks whether the word
# is a prefix of one of them (getopt takes abbreviations).
OUTPUT_LETTERS = {program: (frozenset(o[1] for o in options if len(o) == 2 and o[1] != "-"),
                             "".join("\0" + o for o in options if o.startswith("--")))
                   for program, options in OUTPUT_OPTIONS.items()}
# Options that take a value, besides the output options: getopt takes the rest of a cluster
# (`-S.bak`) or the next word (`-S .bak`) as the value, so that word is no operand, and the
# letters after such an option in a cluster are no options.  Misreading either way moved the
# write target (`cp a ~/.bashrc -S .bak` has the destination ~/.bashrc, not `.bak`).
VALUE_OPTIONS: dict[str, tuple[str, ...]] = {
    "cp": ("-S", "--suffix", "--no-preserve", "--sparse"),
    "mv": ("-S", "--suffix"), "ln": ("-S", "--suffix"),
    "install": ("-S", "--suffix", "-m", "--mode", "-o", "--owner", "-g", "--group", "--strip-program"),
    "mkdir": ("-m", "--mode"), "mkfifo": ("-m", "--mode"), "mknod": ("-m", "--mode"),
    "touch": ("-d", "--date", "-r", "--reference", "-t", "--time"),
    "truncate": ("-s", "--size", "-r", "--reference"),
    "shred": ("-n", "--iterations", "-s", "--size", "--random-source"),
    "chmod": ("--reference",), "chown": ("--reference", "--from"), "chgrp": ("--reference",),
    "sed": ("-e", "--expression", "-f", "--file", "-l", "--line-length"),
    "split": ("-a", "--suffix-length", "-b", "--bytes", "-C", "--line-bytes", "-l", "--lines", "-n",
              "--number", "-t", "--separator", "--filter"),
    "sort": ("-k", "--key", "-t", "--field-separator", "-S", "--buffer-size", "--compress-program",
             "--files0-from", "--batch-size", "--parallel", "--random-source", "--sort"),
    "uniq": ("-f", "--skip-fields", "-s", "--skip-chars", "-w", "--check-chars"),
    "tar": ("-b", "--blocking-factor", "-H", "--format", "-K", "--starting-file", "-L", "--tape-length",
            "-N", "--newer", "-T", "--files-from", "-V", "--label", "-X", "--exclude-from", "-I",
            "--use-compress-program", "-F", "--info-script", "--new-volume-script", "--exclude",
            "--transform", "--xform", "--owner", "--group", "--mode", "--mtime", "--checkpoint-action",
            "--to-command", "--rsh-command", "--rmt-command"),
    "patch": ("-B", "--prefix", "-D", "--ifdef", "-F", "--fuzz", "-i", "--input", "-p", "--strip",
              "-V", "--version-control", "-Y", "--basename-prefix", "-z", "--suffix", "-g", "--get",
              "--quoting-style", "--reject-format"),
    "iconv": ("-f", "--from-code", "-t", "--to-code"),
    "gzip": ("-S", "--suffix"), "gunzip": ("-S", "--suffix"),
    "xz": ("-S", "--suffix", "-F", "--format", "-C", "--check", "-T", "--threads", "-M", "--memlimit"),
    "unxz": ("-S", "--suffix", "-F", "--format", "-T", "--threads", "-M", "--memlimit"),
    "mktemp": ("--suffix",),
    "time": ("-f", "--format"),
    "cmake": ("-S", "-G", "-T", "-A", "-D", "-U", "-C", "-P", "--preset", "--toolchain", "--config", "--target", "-t",
              "--component", "--log-level", "--loglevel", "-j", "--parallel"),
}
# cmake's modes that configure no build tree (else it writes one: in -B's directory, or in the
# working directory, or in the operand when that is a build tree already).
CMAKE_NOT_CONFIGURING = frozenset({"-E", "--build", "--install", "-P", "--help", "-h", "--version", "-N",
                                   "--system-information", "--find-package", "--workflow", "--list-presets",
                                   "--help-full", "--help-command", "--help-module", "--help-policy",
                                   "--help-variable", "--help-property", "--help-manual"})
# gzip and friends write to stdout (or write nothing) with these: their operands are only read.
COMPRESS_NO_WRITE = ("-c", "--stdout", "--to-stdout", "-l", "--list", "-t", "--test")
# Letters that make a compressor's cluster (`-dc`) write to stdout or nothing.
COMPRESS_NO_WRITE_LETTERS = "clt"
# tar's modes that read the archive (-f) and those that write it.
TAR_READS_ARCHIVE = frozenset({"-x", "--extract", "--get", "-t", "--list", "-d", "--diff", "--compare"})
TAR_WRITES_ARCHIVE = frozenset({"-c", "--create", "-r", "--append", "-u", "--update", "-A", "--catenate",
                                 "--concatenate", "--delete"})
# unzip options that list, test or print members instead of extracting them.
UNZIP_NO_WRITE = ("-l", "-t", "-p", "-c", "-v", "-z", "-Z")
