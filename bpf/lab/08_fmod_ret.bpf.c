// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Lesson 8: make a kernel function fail, for one process only.
 *
 * An fmod_ret ("modify return") program runs on a BPF trampoline at the
 * entry of a kernel function. Returning 0 lets the function run as usual;
 * returning anything else skips the function (and any later fmod_ret
 * program), and its caller sees that value as the function's return.
 *
 * The verifier accepts fmod_ret only on functions marked
 * ALLOW_ERROR_INJECTION (and only when the kernel has
 * CONFIG_FUNCTION_ERROR_INJECTION, which Debian's kernels lack) and on the
 * security_* LSM hooks, which it always allows. So this lesson fails
 * security_file_open(), the hook every open(2) of an existing file passes:
 *   openat -> do_sys_openat2 -> do_filp_open -> path_openat -> do_open
 *          -> vfs_open -> do_dentry_open -> security_file_open
 * Path lookup comes first: a missing file still fails with ENOENT.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#if defined(__TARGET_ARCH_x86)
#define SYSCALL(name) "__x64_sys_" #name
#elif defined(__TARGET_ARCH_arm64)
#define SYSCALL(name) "__arm64_sys_" #name
#else
#define SYSCALL(name) "sys_" #name
#endif

#define MAX_ERRNO 4095

/* Opens this object failed: [0] by fail_file_open, [1] by override_openat.
 * Written here, read by the lesson. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} failed SEC(".maps");

/* The one process whose opens fail, and the negative errno they fail
 * with; set by the lesson before load. */
const volatile __u32 target_tgid = 0;
const volatile int error = -1;

static __always_inline bool is_target(void)
{
	return (bpf_get_current_pid_tgid() >> 32) == target_tgid;
}

/* Only -MAX_ERRNO..-1 is an error to every caller. A positive value is
 * "failed" to `if (error)` but "succeeded" to `if (error < 0)`:
 * do_dentry_open() catches it with a kernel WARNING and turns it into
 * -EINVAL; callers of other hooks may pass it on as a result. `error` is a
 * load-time constant, so the verifier drops the branch not taken. */
static __always_inline bool error_is_errno(void)
{
	return error < 0 && error >= -MAX_ERRNO;
}

static __always_inline void count(__u32 slot)
{
	__u64 *n = bpf_map_lookup_elem(&failed, &slot);

	if (n)
		__sync_fetch_and_add(n, 1);
}

/* `ret` is what the fmod_ret programs before this one returned: always 0
 * here, since the trampoline stops at the first non-zero one. */
SEC("fmod_ret/security_file_open")
int BPF_PROG(fail_file_open, struct file *file, int ret)
{
	if (!is_target() || !error_is_errno())
		return 0;
	count(0);
	return error;
}

/* The older way, for the kernels that allow it: a kprobe that makes the
 * probed function return at once with a chosen value. It needs
 * CONFIG_BPF_KPROBE_OVERRIDE (no Debian kernel has it) and a function on the
 * error-injection list; without the option the verifier does not know the
 * helper and refuses the whole object. "?" turns autoload off, so the
 * object loads everywhere; the lesson turns it on only where `vigil probe`
 * says override_return works. It fails openat(2) before the lookup: a
 * missing file fails with `error` too. */
SEC("?kprobe/" SYSCALL(openat))
int BPF_KPROBE(override_openat)
{
	if (!is_target() || !error_is_errno())
		return 0;
	count(1);
	bpf_override_return(ctx, error);
	return 0;
}
