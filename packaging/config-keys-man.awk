# config-keys-man.awk - turns the Markdown table of `sluiced --config-keys`
# (key | type | default | range | meaning | apply) into roff paragraphs for
# sluice.conf(5). Run at build time so the man page lists exactly the keys
# the daemon's table has.

# roff-safe text: backslashes escaped, `code` marks dropped, and a leading
# dot or quote guarded so it is not read as a request.
function roff(s) {
    gsub(/\\/, "\\e", s)
    gsub(/`/, "", s)
    sub(/^[.']/, "\\\\&&", s)
    return s
}

# Rows start after the |---| separator line.
/^\| *---/ { body = 1; next }
!body || !/^\|/ { next }

{
    line = $0
    sub(/^\| */, "", line)
    sub(/ *\|$/, "", line)
    n = split(line, f, / \| /)
    if (n != 6) {
        print "config-keys-man.awk: expected 6 columns, got " n ": " $0 > "/dev/stderr"
        exit 1
    }
    print ".TP"
    print "\\fB" roff(f[1]) "\\fR (" roff(f[2]) "; " roff(f[6]) ")"
    print roff(f[5]) "."
    print ".br"
    d = roff(f[3])
    print (d == "required" ? "Required" : "Default: " d) "; range: " roff(f[4]) "."
    rows++
}

END {
    if (!rows) {
        print "config-keys-man.awk: no keys in the input" > "/dev/stderr"
        exit 1
    }
}
