#!/bin/sh
# seeds.sh BUILD - assembles each fuzz target's seed corpus in
# BUILD/corpus/<target>/ from what is kept as source: tests/fuzz/corpus/
# (hand-written seeds, reproducers of fixed bugs), packaging/sluice.conf and
# the generator BUILD/tests/fuzz/seeds (tests/fuzz/seeds.c).
#   ingress: *.txtpb are sluice.v1.Request in protobuf text format, encoded
#            here; any other file is a binary frame, copied as it is.
#   config:  files copied as they are; the input format is the main file,
#            optionally followed by a line "#--- inc.conf" and the text of
#            the file inc.conf beside it (see fuzz_config.c).
set -eu
build=$1
out=$build/corpus
rm -rf "$out"
mkdir -p "$out/ingress" "$out/config"

for f in tests/fuzz/corpus/ingress/*; do
    name=$(basename "$f")
    case $name in
    *.txtpb)
        if ! protoc-c -I. --encode=sluice.v1.Request proto/sluice.proto \
                <"$f" >"$out/ingress/${name%.txtpb}" 2>"$out/protoc.err"; then
            echo "seeds: cannot encode $f:" >&2
            cat "$out/protoc.err" "$out/ingress/${name%.txtpb}" >&2
            exit 1
        fi ;;
    *)  cp "$f" "$out/ingress/$name" ;;
    esac
done
rm -f "$out/protoc.err"
"$build/tests/fuzz/seeds" "$out/ingress"

cp tests/fuzz/corpus/config/* "$out/config/"
cp packaging/sluice.conf "$out/config/sample.conf"
# The sample again with its stores moved to an @include'd file.
awk '
    !inc && /^stores = \($/ { print; print "  @include \"inc.conf\""; inc = 1; next }
    inc == 1 && /^\);$/     { print; inc = 2; next }
    inc == 1                { stores = stores $0 "\n"; next }
                            { print }
    END                     { printf "#--- inc.conf\n%s", stores }
' packaging/sluice.conf >"$out/config/sample_split.conf"
echo "seeds: $(ls "$out/ingress" | wc -l) ingress, $(ls "$out/config" | wc -l) config in $out"
