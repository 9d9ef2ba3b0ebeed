# sluice@.service.sed - makes the template unit sluice@.service from
# sluice.service (sed -f, in debian/rules), so that the two units share
# every line but these: one sluiced per instance NAME, for a host that runs
# several shards' nodes (docs/operations.md, "Several shards on one host").
# NAME's config is /etc/sluice/NAME.conf, its runtime directory (control
# sockets) /run/sluice-NAME and its store cache /var/cache/sluice-NAME: each
# instance's daemon.control must say ipc:///run/sluice-NAME/control.sock,
# and its ingress, events and http its own ports.
1,4c\
# sluice@.service - runs one sluiced per instance NAME under systemd\
# (Debian 12, systemd 252): `systemctl enable --now sluice@NAME` runs\
# /etc/sluice/NAME.conf, one node of a shard, so that one host can run\
# several. Generated from sluice.service by packaging/sluice@.service.sed;\
# every line that is not about the instance is the same as there. Set\
# daemon.control = "ipc:///run/sluice-NAME/control.sock" in NAME.conf, and\
# ingress, events and http to ports of its own.
s|^Description=.*|& (%i)|
s|/etc/sluice/sluice\.conf|/etc/sluice/%i.conf|g
s|^RuntimeDirectory=sluice$|RuntimeDirectory=sluice-%i|
s|^CacheDirectory=sluice$|CacheDirectory=sluice-%i|
s|/run/sluice\([/ ]\)|/run/sluice-%i\1|g
s|/var/cache/sluice\([ ,;]\)|/var/cache/sluice-%i\1|g
s|security sluice\.service|security sluice@NAME.service|
