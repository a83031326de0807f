# tests/rig/lib.sh - sourced by tests/rig/check.sh and tests/rig/check-iommufd.sh,
# which set $top (the repository) first.

# rig RUN.SH-ARGS...: one run of tests/rig/run.sh; when level 1 itself broke (exit 75:
# a kernel panic, or a hang of the TCG-emulated level 1, which run.sh cuts off after
# RIG_SILENCE seconds without output), it runs again, up to twice, and says so. A payload
# failure is never retried.
# Call it with errexit off (set +e).
rig() {
	local rc try
	for try in 1 2 3; do
		bash "$top/tests/rig/run.sh" "$@"
		rc=$?
		[ $rc -eq 75 ] && [ $try -lt 3 ] || break
		echo "rig: level 1 broke (see the log above); running the payload again ($((try + 1)) of 3)" >&2
	done
	return $rc
}

# vfio_payload DIR SCRIPT: the passthrough payload in DIR: build/vmm, the guest images,
# and tests/rig/payload/run-l1-vfio.sh as DIR/SCRIPT.
vfio_payload() {
	rm -rf "$1"
	mkdir -p "$1/guests"
	cp "$top/build/vmm" "$1/vmm"
	cp "$top"/build/guests/*.bin "$1/guests/"
	cp "$top/tests/rig/payload/run-l1-vfio.sh" "$1/$2"
}
