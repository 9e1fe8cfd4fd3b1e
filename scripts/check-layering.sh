#!/usr/bin/env bash
# Folder layering of src/: prints each folder's dependencies (the other src/ folders its
# files #include "folder/..." from) and exits non-zero when two folders depend on each
# other, directly or through others. A public header include/vk_symbiote/Name.h counts as
# the folder of its implementation (src/<folder>/Name.cpp).
set -euo pipefail
cd "$(dirname "$0")/.."

edges=$(mktemp)
trap 'rm -f "$edges"' EXIT
for dir in src/*/; do
    from=$(basename "$dir")
    deps=$(grep -rhoE '^[[:space:]]*#[[:space:]]*include[[:space:]]+"[A-Za-z0-9_]+/[A-Za-z0-9_]+' "$dir" |
        sed -E 's/.*"//' | sort -u |
        while IFS=/ read -r top name; do
            to="$top"
            if [[ "$top" == vk_symbiote ]]; then
                impl=$(ls src/*/"$name".cpp 2>/dev/null | head -n 1)
                to=$(basename "$(dirname "${impl:-/none/x}")")
            fi
            if [[ "$to" != "$from" && -d "src/$to" ]]; then echo "$to"; fi
        done | sort -u | tr '\n' ' ')
    printf '%-12s -> %s\n' "$from" "${deps:-(none)}"
    echo "$from $from" >>"$edges"  # every folder appears in the graph
    for to in $deps; do echo "$from $to" >>"$edges"; done
done

if ! tsort "$edges" >/dev/null 2>"$edges.err"; then
    echo "layering: folders that include each other (a cycle):" >&2
    grep -v 'input contains a loop' "$edges.err" | sed 's/^tsort: /  /' >&2
    rm -f "$edges.err"
    exit 1
fi
rm -f "$edges.err"
echo "layering: no cycle between the folders of src/"
