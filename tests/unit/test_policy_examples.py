"""Tetragon v1.7.0's own example policies (../shared/tetragon-examples/, read in place):
each is a valid Tetragon policy unless Tetragon itself refuses it, and whatever vigil does
not implement yet is reported with the field's path and the issue that brings it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.tetragon_examples import EXAMPLES, MISSING
from vigil.policy import Issue, Severity, check_text
from vigil.policy.support import REFUSED

FILES = sorted(p for p in EXAMPLES.rglob("*.y*ml")) if EXAMPLES.is_dir() else []

pytestmark = pytest.mark.skipif(not FILES, reason=MISSING)

# Tetragon v1.7 refuses these as they are (when it loads them; its CRD smoke test only
# parses them): the list is a syscall list, and pkg/sensors/tracing/lists_linux.go
# listReader.Read wants a syscall64 argument, not the uint64 the example declares.
REJECTED_BY_TETRAGON = {
    "tracingpolicy/list-syscalls-tracepoint.yaml": [
        "23:11: spec.tracepoints[0].selectors[0].matchArgs[0].values[0]: list 'dups' holds "
        "syscalls, but the argument is uint64; a syscall list filters a syscall64 argument"],
}

# Templates: the docs fill in ${PODCIDR} and ${SERVICECIDR} with envsubst before use.
TEMPLATES = {"policylibrary/egress.yaml", "quickstart/network_egress_cluster.yaml",
             "quickstart/network_egress_cluster_enforce.yaml"}
ENVSUBST = {"${PODCIDR}": "10.0.0.0/16", "${SERVICECIDR}": "10.96.0.0/12"}

# Everything in these is implemented (kprobes on the hook ladder's rungs;
# tests/kernel/test_syscall_kprobes.py runs some of them).
FULLY_SUPPORTED: set[str] = {
    "tracingpolicy/raw_syscalls.yaml",
    "policylibrary/privileges/privileges-setuid-root.yaml",
    "tracingpolicy/cves/cve-2023-2640-overlayfs-ubuntu.yaml",
    "tracingpolicy/hardlink-override.yaml",
    "tracingpolicy/override-security.yaml",
    "tracingpolicy/symlink-override.yaml",
    "tracingpolicy/hardlink-observe.yaml",
    "tracingpolicy/list-syscalls-generated.yaml",
    "tracingpolicy/list-syscalls.yaml",
    "tracingpolicy/process-credentials/process.credentials.changes.at.syscalls.yaml",
    "tracingpolicy/symlink-observe.yaml",
    "tracingpolicy/sys_mount.yaml",
    "tracingpolicy/sys_ptrace.yaml",
    "tracingpolicy/sys_setuid.yaml",
    # file arguments
    "policylibrary/modules.yaml",
    "quickstart/file_monitoring.yaml",
    "tracingpolicy/fd_install_cap_changes.yaml",
    "tracingpolicy/fd_install_caps.yaml",
    "tracingpolicy/fd_install_ns.yaml",
    "tracingpolicy/fd_install_ns_host.yaml",
    "tracingpolicy/security_inode_follow_link.yaml",
    "tracingpolicy/tty_54.yaml",
    # matchReturnArgs
    "tracingpolicy/openat_write.yaml",
    # sock tracking (TrackSock, UntrackSock, returnArgAction) and a sock returned
    "policylibrary/sshd.yaml",
    "tracingpolicy/datagram-with-sock-tracking.yaml",
    "tracingpolicy/datagram_518.yaml",
    "tracingpolicy/tcp-accept.yaml",
    "tracingpolicy/tcp-listen.yaml",
    # NotifyEnforcer and its enforcer
    "tracingpolicy/killer.yaml",
    # sock arguments and the socket operators
    "policylibrary/egress.yaml",
    "quickstart/network_egress_cluster.yaml",
    "tracingpolicy/tcp-connect-only-local-addrs.yaml",
    "tracingpolicy/tcp-connect-only-private-addrs.yaml",
    "tracingpolicy/tcp-connect-with-selectors.yaml",
    "tracingpolicy/tcp-connect.yaml",
    # nop, cred and the capability sets
    "policylibrary/privileges/privileges-raise.yaml",
    "tracingpolicy/cves/cve-2024-3094-xz-ssh.yaml",
    "tracingpolicy/filename_monitoring.yaml",
    "tracingpolicy/filename_monitoring_filtered.yaml",
    "tracingpolicy/kprobe_commit_creds.yaml",
    "tracingpolicy/process-credentials/process-creds-changed.yaml",
    "tracingpolicy/process-credentials/process-creds-installed.yaml",
    "tracingpolicy/process-exec/process-exec-elf-begin.yaml",
    "tracingpolicy/sandbox/linux-namespaces/kill_unprivileged_user_namespace.yaml",
    "tracingpolicy/sandbox/linux-namespaces/"
    "kill_unprivileged_user_namespace_in_pid_namespace.yaml",
    # linux_binprm, net_device
    "tracingpolicy/dev_hard_start_xmit.yaml",
    "tracingpolicy/security_bprm_check.yaml",
    # skb, sockaddr, socket, user_namespace, bpf_attr, bpf_map, perf_event, module
    "policylibrary/bpf.yaml",
    "tracingpolicy/bpf.yaml",
    "tracingpolicy/datagram-with-selectors.yaml",
    "tracingpolicy/datagram.yaml",
    "tracingpolicy/dev_queue_xmit.yaml",
    "tracingpolicy/dns-only-specified-servers.yaml",
    "tracingpolicy/host-changes/monitor-kernel-modules.yaml",
    "tracingpolicy/host-changes/monitor-signed-kernel-modules.yaml",
    "tracingpolicy/process-credentials/creds-capability-usage.yaml",
    "tracingpolicy/security-socket-connect-block-others.yaml",
    "tracingpolicy/security-socket-connect.yaml",
    # struct arguments of raw tracepoints
    "tracingpolicy/rawtp.yaml",
    # lists of kernel functions
    "tracingpolicy/list-generated-ftrace.yaml",
    # kiocb, iov_iter with maxData
    "tracingpolicy/tty.yaml",
    # user functions
    "tracingpolicy/uprobe.yaml",
    "tracingpolicy/uprobe-binaries.yaml",
    "tracingpolicy/uprobe-host.yaml",
    "tracingpolicy/uprobe-pid.yaml",
}

# The hook kinds and what each is reported as while vigil lacks it.
HOOK_FIELDS = {"fentries": "issue 9", "lsmhooks": "issue 10", "usdts": "issue 10"}
UNSUPPORTED = re.compile(r"^(.+ (is|are) )?not supported yet \((issue \d+|no issue yet)\)$")


def rel(path: Path) -> str:
    return path.relative_to(EXAMPLES).as_posix()


def issues(text: str, name: str, severity: Severity) -> list[Issue]:
    return [i for i in check_text(text, name).issues if i.severity is severity]


def test_the_corpus_is_complete() -> None:
    # 83 files of examples/ at v1.7.0: 81 TracingPolicy, 2 TracingPolicyNamespaced
    assert len(FILES) == 83


@pytest.mark.parametrize("path", FILES, ids=rel)
def test_example_is_a_valid_tetragon_policy(path: Path) -> None:
    name = rel(path)
    text = path.read_text()
    if name in TEMPLATES:
        raw = [i.message for i in issues(text, name, Severity.ERROR)]
        assert raw == [f"'{v}' is not an IP address or CIDR (e.g. 10.0.0.0/8, ::1)"
                       for v in ENVSUBST]
        for var, value in ENVSUBST.items():
            text = text.replace(var, value)
    got = [str(i).removeprefix(f"{name}:") for i in issues(text, name, Severity.ERROR)]
    assert got == REJECTED_BY_TETRAGON.get(name, [])


@pytest.mark.parametrize("path", FILES, ids=rel)
def test_example_reports_what_vigil_lacks_by_field(path: Path) -> None:
    name = rel(path)
    text = path.read_text()
    for var, value in ENVSUBST.items():
        text = text.replace(var, value)
    missing = issues(text, name, Severity.UNSUPPORTED)
    if name in FULLY_SUPPORTED or name in REJECTED_BY_TETRAGON:
        assert missing == []
        return
    assert missing, "a policy vigil cannot run yet must say why"
    for issue in missing:
        assert issue.path and issue.line >= 1 and issue.column >= 1
        # not implemented yet, or never (the Kubernetes API), saying what instead
        assert UNSUPPORTED.match(issue.message) or issue.message in REFUSED.values(), issue
    paths = {i.path: i.message for i in missing}
    for field, where in HOOK_FIELDS.items():
        if re.search(rf"^  {field}:", text, re.MULTILINE):
            assert paths[f"spec.{field}"] == f"not supported yet ({where})"


def test_a_few_reports_exactly() -> None:
    def report(name: str) -> list[str]:
        text = (EXAMPLES / name).read_text()
        return [str(i).removeprefix(f"{name}:") for i in issues(text, name,
                                                                Severity.UNSUPPORTED)]

    assert report("tracingpolicy/loader.yaml") == [
        "6:3: spec.loader: not supported yet (no issue yet)"]
    assert report("quickstart/file_monitoring_enforce.yaml")[0] == (
        "2:7: kind: TracingPolicyNamespaced is not supported yet (issue 10)")
