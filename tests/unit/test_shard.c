/* test_shard.c - the shard map (daemon/shard.c): without shards every store
 * is the node's; with them a store is the node's when its shard is
 * daemon.shard, else the owner and its endpoints are named, in the
 * WRONG_SHARD detail too, which a small buffer cuts short safely. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "shard.h"

#include <string.h>

static config_shard_t s_shards[2] = {
    { .name = "a", .endpoints = { "tcp://10.0.1.1:7400", NULL } },
    { .name = "b", .endpoints = { "tcp://10.0.2.1:7400", "tcp://10.0.2.2:7400", NULL } },
};

static void test_no_shards_serves_all(void **state)
{
    (void)state;
    config_t cfg = { .daemon = { .shard = "" } };
    config_store_t st = { .id = 7, .shard = -1 };
    shard_owner_t owner = { 0 };
    assert_true(shard_serves(&cfg, &st, &owner));
    assert_true(shard_serves(&cfg, NULL, &owner));
    assert_null(owner.name);
}

static void test_own_and_other_shard(void **state)
{
    (void)state;
    config_t cfg = { .daemon = { .shard = "a" }, .shards = s_shards, .shard_count = 2 };
    config_store_t mine = { .id = 1001, .shard = 0 }, theirs = { .id = 1008, .shard = 1 };
    shard_owner_t owner = { 0 };
    assert_true(shard_serves(&cfg, &mine, &owner));
    assert_true(shard_serves(&cfg, NULL, &owner)); /* removed by a reload: admission's */
    assert_false(shard_serves(&cfg, &theirs, &owner));
    assert_string_equal(owner.name, "b");
    assert_int_equal(owner.endpoint_count, 2);
    assert_string_equal(owner.endpoints[1], "tcp://10.0.2.2:7400");
    char buf[160];
    assert_string_equal(shard_detail(&owner, theirs.id, buf, sizeof buf),
                        "store_id: store 1008 belongs to shard b; send it to "
                        "tcp://10.0.2.1:7400, tcp://10.0.2.2:7400");
    char tiny[24];
    shard_detail(&owner, theirs.id, tiny, sizeof tiny);
    assert_int_equal(strlen(tiny), sizeof tiny - 1);
    cfg.daemon.shard = "b";
    assert_true(shard_serves(&cfg, &theirs, &owner));
    assert_false(shard_serves(&cfg, &mine, &owner));
    assert_string_equal(owner.name, "a");
    assert_int_equal(owner.endpoint_count, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_shards_serves_all),
        cmocka_unit_test(test_own_and_other_shard),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
