#!/bin/sh
# The shared library's ABI surface: soname, exported symbols (exactly the
# sorted list in abi/amxq.symbols, every one amx_-prefixed and versioned),
# and the public header compiling as C++ too (extern "C"). And the static
# library's namespace: a static link puts every global symbol of libamxq.a
# beside the engine's own, so each must start with amx_ (the API) or amxq_
# (internal).
set -eu
lib="$1"
list="$2"
header_dir="$3"
static_lib="${4:-}"
fail=0

soname=$(readelf -d "$lib" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
[ "$soname" = "libamxq.so.0" ] || { echo "soname is '$soname', want libamxq.so.0"; fail=1; }

got=$(nm -D --defined-only "$lib" | awk '$2 ~ /^[TDRBW]$/ {print $3}' | sed 's/@.*//' | sort)
if [ "$got" != "$(cat "$list")" ]; then
    echo "exported symbols differ from $list (update the list only for a deliberate ABI change):"
    echo "$got" | diff "$list" - || true
    fail=1
fi
bad=$(echo "$got" | grep -v '^amx_' || true)
[ -z "$bad" ] || { echo "exports without the amx_ prefix: $bad"; fail=1; }
unversioned=$(nm -D --defined-only "$lib" | awk '$2 ~ /^[TDRBW]$/ && $3 !~ /@@AMXQ_0$/ {print $3}')
[ -z "$unversioned" ] || { echo "symbols without the AMXQ_0 version: $unversioned"; fail=1; }

if [ -n "$static_lib" ]; then
    globals=$(nm -g --defined-only "$static_lib" | awk 'NF == 3 {print $3}' | sort -u)
    stray=$(echo "$globals" | grep -v '^amx_' | grep -v '^amxq_' || true)
    if [ -n "$stray" ]; then
        echo "global symbols of $(basename "$static_lib") without the amx_/amxq_ prefix:"
        echo "$stray"
        fail=1
    fi
    internal_api=$(echo "$globals" | grep '^amx_' | grep -vxF -f "$list" || true)
    if [ -n "$internal_api" ]; then
        echo "internal symbols in the public amx_ namespace (use amxq_):"
        echo "$internal_api"
        fail=1
    fi
    echo "static library: $(echo "$globals" | wc -l) global symbols checked"
fi

if command -v c++ >/dev/null 2>&1; then
    printf '#include "amxq.h"\nint main() { amx_weights *w = 0; amx_weights_free(w); return amx_version() > 0 ? 0 : 1; }\n' |
        c++ -x c++ -std=c++11 -Wall -Wextra -Werror -fsyntax-only -I"$header_dir" - ||
        { echo "amxq.h does not compile as C++"; fail=1; }
else
    echo "no C++ compiler: C++ header check NOT RUN"
fi
[ $fail -eq 0 ] && echo "ABI surface OK: $(echo "$got" | wc -l) symbols, soname $soname"
exit $fail
