"""Tetragon v1.7's limits on a policy, each with where Tetragon enforces it.

vigil enforces every one of them at validation, so a policy that loads here
also fits Tetragon's in-kernel tables. Paths are relative to the Tetragon tree
(github.com/cilium/tetragon at v1.7.0). Where Tetragon has a smaller limit on
kernels without "large programs" (< 5.3), the large-program figure is used:
vigil needs a 5.x kernel anyway.
"""

from __future__ import annotations

__all__ = [
    "BINARY_PATH_MAX",
    "BTF_RESOLVE_DEPTH_MAX",
    "HOOK_ARG_INDEX_MAX",
    "MAX_ACTIONS",
    "MAX_ARGS",
    "MAX_ARG_FILTERS",
    "MAX_BINARY_FILTERS",
    "MAX_MATCH_VALUES",
    "MAX_NAMESPACE_CHANGES_FILTERS",
    "MAX_NAMESPACE_FILTERS",
    "MAX_NAMESPACE_VALUES",
    "MAX_SELECTORS",
    "MAX_TAGS",
    "MESSAGE_MAX",
    "MESSAGE_MIN",
    "RAW_TP_ARG_INDEX_MAX",
    "SIGNAL_MAX",
    "SIZE_ARG_INDEX_MAX",
    "STRING_EQUAL_MAX",
    "STRING_POSTFIX_MAX",
    "STRING_PREFIX_MAX",
    "SUBSTRING_MAX",
    "SUBSTRING_MAX_ENTRIES",
    "TAG_MAX",
    "TAG_MIN",
]

# Selectors per hook: pkg/selectors/selectors.go MaxSelectors (= MAX_SELECTORS in
# bpf/process/event_config.h), checked in pkg/selectors/kernel.go createKernelSelectorState.
MAX_SELECTORS = 5

# Arguments per hook (args + data): pkg/api/tracingapi/client_kprobe.go EventConfigMaxArgs,
# checked in pkg/sensors/tracing/generickprobe.go addKprobe ("too many arguments"),
# generictracepoint.go EventConfig, genericusdt.go; uprobes and LSM hooks index
# fixed arrays of that size (genericuprobe.go, genericlsm.go).
MAX_ARGS = 5

# Argument filters per selector (matchArgs + matchData): pkg/selectors/kernel.go
# ParseMatchArgs ("supports up to 5 filters"; 1 without large programs).
MAX_ARG_FILTERS = 5

# Values per matchArgs filter compared in the program itself (Equal/NotEqual on
# integers, GT, LT, Mask, InRange, NotInRange, FileType): pkg/selectors/kernel.go
# writeMatchValues and writeMatchValuesRange (maxMatchValues = MAX_MATCH_VALUES in
# bpf/process/types/basic.h). String, prefix, postfix and InMap values go to maps
# and have no such limit.
MAX_MATCH_VALUES = 4

# Actions per selector (matchActions, matchReturnActions): pkg/selectors/kernel.go
# ParseMatchActions ("only 3 actions are support for selector").
MAX_ACTIONS = 3

# matchNamespaces filters per selector: pkg/selectors/kernel.go ParseMatchNamespaces
# (10 with large programs, "should match the value of ns_max_types"); values per
# filter: namespaceSelectorValue ("up to 4 values per filter").
MAX_NAMESPACE_FILTERS = 10
MAX_NAMESPACE_VALUES = 4

# matchNamespaceChanges filters per selector: ParseMatchNamespaceChanges.
MAX_NAMESPACE_CHANGES_FILTERS = 1

# matchBinaries / matchParentBinaries filters per selector: the CRD's maxItems: 1
# (types.go) and ParseMatchBinaries ("only support a single matchBinaries per selector").
MAX_BINARY_FILTERS = 1

# matchBinaries In/NotIn path length: processapi.BINARY_PATH_MAX_LEN (256) - 1,
# pkg/selectors/kernel.go ParseMatchBinary.
BINARY_PATH_MAX = 255

# Prefix / NotPrefix value length (matchArgs and matchBinaries):
# pkg/selectors/selectors.go StringPrefixMaxLength, kernel.go writePrefix.
STRING_PREFIX_MAX = 256

# Postfix / NotPostfix value length: StringPostfixMaxLength (128) - 1, kernel.go
# writePostfix ("we will not be able to match a postfix longer than 127 characters").
STRING_POSTFIX_MAX = 127

# Equal / NotEqual string value length: selectors.go MaxStringMapsSize (4096 + 2) - 2,
# ArgStringSelectorValue on kernels >= 5.11 ("string is too long").
STRING_EQUAL_MAX = 4096

# SubString / SubStringIgnCase: value length < substringMaxLen (100), at most
# SubstringMapEntries (100) values per hook: kernel.go writeMatchSubString.
SUBSTRING_MAX = 99
SUBSTRING_MAX_ENTRIES = 100

# Tags per hook: pkg/sensors/tracing/tags.go TpMaxTags and the CRD's maxItems: 16;
# a tag shorter than TpMinTagLen is an error, longer than TpMaxTagLen is truncated.
MAX_TAGS = 16
TAG_MIN = 2
TAG_MAX = 128

# message: pkg/sensors/tracing/message.go TpMinMessageLen (shorter is an error)
# and TpMaxMessageLen (longer is truncated, with a warning).
MESSAGE_MIN = 2
MESSAGE_MAX = 256

# sizeArgIndex: pkg/sensors/tracing/args_linux.go getMetaValue ("invalid SizeArgIndex
# value (>15)").
SIZE_ARG_INDEX_MAX = 15

# args[].index of kprobes, fentries, uprobes and LSM hooks: the five argument
# registers read by the program; generickprobe.go and genericuprobe.go addArg
# ("Index %d out of bounds"), genericlsm.go validateLsmArg.
HOOK_ARG_INDEX_MAX = 4

# args[].index of a raw tracepoint: generictracepoint.go validateRawTracepointArg
# ("can read up to 5 arguments, but index %d was requested").
RAW_TP_ARG_INDEX_MAX = 5

# resolve: depth of a BTF field path: pkg/api/tracingapi/client_kprobe.go MaxBTFArgDepth,
# checked in pkg/sensors/tracing/generic.go resolveBTFType.
BTF_RESOLVE_DEPTH_MAX = 10

# argSig: signal numbers 1.._NSIG (64) on Linux. Tetragon passes the number to
# bpf_send_signal unchecked (kernel.go ParseMatchAction); the helper refuses others.
SIGNAL_MAX = 64
