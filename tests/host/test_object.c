/*
 * Host tests of kernel objects and handle tables (kernel/generic/object.c):
 * installation, lookup with type and rights, dup dropping rights, close,
 * growth to the limit (also when another thread grows the table while we
 * allocate), that every reference is dropped exactly once, and the
 * unreferenced hook of objects that hold a reference to themselves.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <kern/assert.h>
#include <kern/log.h>
#include "shim/shim.h"

/* The heap, from the host. kmalloc_hook, when set, runs once inside the
 * next kmalloc: "another thread" acting while a table grows. */
static void (*kmalloc_hook)(void);
void *kmalloc(size_t n)
{
	void (*h)(void) = kmalloc_hook;
	kmalloc_hook = NULL;
	if (h)
		h();
	return n ? malloc(n) : NULL;
}
void *kzalloc(size_t n) { return n ? calloc(1, n) : NULL; }
void kfree(void *p) { free(p); }

#include "../../kernel/generic/object.c"

static int destroyed;
static void count_destroy(struct kobj *o)
{
	destroyed++;
	free(o);
}
static const struct kobj_ops test_ops = { "test", count_destroy };

static struct kobj *new_obj(uint32_t type)
{
	struct kobj *o = malloc(sizeof(*o));
	kobj_init(o, type, &test_ops);
	return o;
}

/* While one install allocates a bigger array, another thread grows the
 * table past that size: the first must not install its smaller array
 * (it wrote past its end). */
static struct handle_table race_table;
static void other_thread_grows(void)
{
	for (int i = 0; i < 17; i++)
		assert_true(handle_install(&race_table, new_obj(ALDER_OBJ_EVENT), 0) > 0);
}

static void test_grow_race(void **state)
{
	destroyed = 0;
	handle_table_init(&race_table);
	for (int i = 0; i < 16; i++)
		assert_int_equal(handle_install(&race_table, new_obj(ALDER_OBJ_EVENT), 0), i + 1);
	kmalloc_hook = other_thread_grows;
	assert_int_equal(handle_install(&race_table, new_obj(ALDER_OBJ_EVENT), 0), 34);
	handle_table_destroy(&race_table);
	assert_int_equal(destroyed, 34);
}

static void test_install_get_close(void **state)
{
	struct handle_table t;
	handle_table_init(&t);
	destroyed = 0;
	struct kobj *o = new_obj(ALDER_OBJ_MEMORY);
	long h = handle_install(&t, o, ALDER_RIGHT_READ | ALDER_RIGHT_MAP);
	assert_true(h > 0);
	struct kobj *got;
	uint32_t rights;
	assert_int_equal(handle_get(&t, h, ALDER_OBJ_MEMORY, ALDER_RIGHT_READ, &got, &rights), 0);
	assert_ptr_equal(got, o);
	assert_int_equal(rights, ALDER_RIGHT_READ | ALDER_RIGHT_MAP);
	assert_int_equal(handle_get(&t, h, ALDER_OBJ_SPACE, 0, &got, NULL), -ALDER_EBADFD);
	assert_int_equal(handle_get(&t, h, 0, ALDER_RIGHT_WRITE, &got, NULL), -ALDER_EACCES);
	assert_int_equal(handle_get(&t, 0, 0, 0, &got, NULL), -ALDER_EBADF);
	assert_int_equal(handle_get(&t, -5, 0, 0, &got, NULL), -ALDER_EBADF);
	assert_int_equal(handle_get(&t, h + 1000, 0, 0, &got, NULL), -ALDER_EBADF);
	/* The handle closes; our lookup reference keeps the object alive. */
	assert_int_equal(handle_close(&t, h), 0);
	assert_int_equal(handle_close(&t, h), -ALDER_EBADF);
	assert_int_equal(destroyed, 0);
	kobj_put(got);
	assert_int_equal(destroyed, 1);
	handle_table_destroy(&t);
}

static void test_dup_drops_rights(void **state)
{
	struct handle_table t;
	handle_table_init(&t);
	destroyed = 0;
	long h = handle_install(&t, new_obj(ALDER_OBJ_EVENT), ALDER_RIGHTS_ALL);
	long d = handle_dup(&t, h, ALDER_RIGHT_READ);
	assert_true(d > 0 && d != h);
	struct kobj *got;
	uint32_t rights;
	assert_int_equal(handle_get(&t, d, 0, 0, &got, &rights), 0);
	assert_int_equal(rights, ALDER_RIGHT_READ);
	kobj_put(got);
	/* No DUPLICATE right on d: it cannot be duplicated again. */
	assert_int_equal(handle_dup(&t, d, ALDER_RIGHTS_ALL), -ALDER_EACCES);
	assert_int_equal(handle_close(&t, h), 0);
	assert_int_equal(destroyed, 0); /* d still refers to it */
	assert_int_equal(handle_close(&t, d), 0);
	assert_int_equal(destroyed, 1);
	handle_table_destroy(&t);
}

static void test_grow_to_limit(void **state)
{
	struct handle_table t;
	handle_table_init(&t);
	destroyed = 0;
	for (int i = 0; i < HANDLE_TABLE_MAX; i++)
		assert_int_equal(handle_install(&t, new_obj(ALDER_OBJ_EVENT), ALDER_RIGHTS_ALL), i + 1);
	struct kobj *extra = new_obj(ALDER_OBJ_EVENT);
	assert_int_equal(handle_install(&t, extra, 0), -ALDER_EMFILE);
	kobj_put(extra);
	/* A freed slot is reused. */
	assert_int_equal(handle_close(&t, 77), 0);
	assert_int_equal(handle_install(&t, new_obj(ALDER_OBJ_EVENT), 0), 77);
	assert_int_equal(kobj_live(ALDER_OBJ_EVENT), HANDLE_TABLE_MAX);
	handle_table_destroy(&t);
	assert_int_equal(kobj_live(ALDER_OBJ_EVENT), 0);
	assert_int_equal(destroyed, HANDLE_TABLE_MAX + 2);
}

static void test_koids_unique(void **state)
{
	struct kobj *a = new_obj(ALDER_OBJ_QUEUE), *b = new_obj(ALDER_OBJ_QUEUE);
	assert_true(a->koid != b->koid);
	kobj_put(a);
	kobj_put(b);
}

static int unreferenced_calls;
static uint32_t refs_in_hook;
static void count_unreferenced(struct kobj *o)
{
	unreferenced_calls++;
	refs_in_hook = o->refs;
}

/* The hook runs once, from the put that leaves only the object's own
 * reference, while the caller still holds its reference; not when the own
 * one goes. */
static void test_unreferenced_hook(void **state)
{
	struct handle_table t;
	handle_table_init(&t);
	destroyed = 0;
	unreferenced_calls = 0;
	struct kobj *o = new_obj(ALDER_OBJ_THREAD); /* its own reference */
	o->unreferenced = count_unreferenced;
	long h = handle_install(&t, kobj_get(o), ALDER_RIGHTS_ALL);
	long d = handle_dup(&t, h, ALDER_RIGHTS_ALL);
	struct kobj *got;
	assert_int_equal(handle_get(&t, d, 0, 0, &got, NULL), 0);
	assert_int_equal(o->refs, 4);
	assert_int_equal(handle_close(&t, h), 0);
	assert_int_equal(handle_close(&t, d), 0);
	assert_int_equal(unreferenced_calls, 0);
	kobj_put(got);
	assert_int_equal(unreferenced_calls, 1);
	assert_int_equal(refs_in_hook, 2);
	assert_int_equal(o->refs, 1);
	kobj_put(o); /* the own reference */
	assert_int_equal(unreferenced_calls, 1);
	assert_int_equal(destroyed, 1);
	handle_table_destroy(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_install_get_close),
		cmocka_unit_test(test_dup_drops_rights),
		cmocka_unit_test(test_grow_to_limit),
		cmocka_unit_test(test_koids_unique),
		cmocka_unit_test(test_unreferenced_hook),
		cmocka_unit_test(test_grow_race),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
