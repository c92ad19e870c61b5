# One "PASS|FAIL name: detail" line a check in $RESULTS, sourced by the kexec guests' stage 2
# (guest-kexec.sh, bash) and the second kernel's init (kexec-second-init, busybox sh): plain sh
# with local. The sourcing script defines RESULTS and say.
# shellcheck shell=dash

check() { # check NAME DETAIL COMMAND...
  local name=$1 detail
  detail=$(printf %s "$2" | tr '\r\n' '  ')
  shift 2
  if "$@" >/dev/null 2>&1; then
    echo "PASS $name: $detail" >>"$RESULTS"
  else
    echo "FAIL $name: $detail" >>"$RESULTS"
    say "FAILED $name: $detail"
  fi
}

# checks_verdict: PASS, or FAIL and how many checks failed (set-up failures count too).
checks_verdict() {
  if grep -q '^FAIL' "$RESULTS"; then echo "FAIL ($(grep -c '^FAIL' "$RESULTS") checks)"; else echo PASS; fi
}
