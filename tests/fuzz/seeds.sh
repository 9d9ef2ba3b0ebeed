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
#   network: *.txtpb are sluice.net.v1.Reply (a gateway's frames) in
#            protobuf text format, encoded here; any other file is copied.
#   control: *.txtpb are sluice.control.v1.Request (sluicectl's frames) in
#            protobuf text format, encoded here; any other file is copied.
set -eu
build=$1
out=$build/corpus
rm -rf "$out"
mkdir -p "$out/ingress" "$out/config" "$out/network" "$out/control"

# encode TARGET MESSAGE PROTO: tests/fuzz/corpus/TARGET/* into $out/TARGET/.
encode() {
    for f in tests/fuzz/corpus/$1/*; do
        name=$(basename "$f")
        case $name in
        *.txtpb)
            if ! protoc-c -I. --encode="$2" "$3" \
                    <"$f" >"$out/$1/${name%.txtpb}" 2>"$out/protoc.err"; then
                echo "seeds: cannot encode $f:" >&2
                cat "$out/protoc.err" "$out/$1/${name%.txtpb}" >&2
                exit 1
            fi ;;
        *)  cp "$f" "$out/$1/$name" ;;
        esac
    done
    rm -f "$out/protoc.err"
}
encode ingress sluice.v1.Request proto/sluice.proto
encode network sluice.net.v1.Reply proto/network.proto
encode control sluice.control.v1.Request proto/control.proto
"$build/tests/fuzz/seeds" "$out/ingress" "$out/network"

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
echo "seeds: $(ls "$out/ingress" | wc -l) ingress, $(ls "$out/config" | wc -l) config," \
     "$(ls "$out/network" | wc -l) network, $(ls "$out/control" | wc -l) control in $out"
