# checkout_check.sh - sourced: check_checkout OUTPUT_FILE fails unless the
# output of examples/checkout.c shows a tracked, completed, verified session.
check_checkout() {
  local out=$1 want
  for want in 'tracked checkout_started: seq 0 link ' 'tracked payment_confirmed: seq 2 link ' \
      '"state":"completed"' '"progress":{"completed":4,"total":4,"percent":100}' \
      '# Pipeline report: chk\_example\_' 'verify: {"ok":true,' '"checked_events":5' '"mismatches":[]}'; do
    if ! grep -qF -- "$want" "$out"; then
      echo "FAIL: examples/checkout.c's output lacks: $want" >&2
      sed 's/^/    /' "$out" >&2
      return 1
    fi
  done
}
