#!/usr/bin/env bash
# Regenerates golden.tsv with coreutils only (printf, sha256sum), independently
# of the Go code under test. Run from this folder: bash golden.sh > golden.tsv
#
# Columns: name, scope, run_id, attempt, text, key, then one column per part.
# text is the exact string hashed: the parts joined with "-", then the scope
# parts (run ID; run ID and attempt), also joined with "-".
set -euo pipefail

row() { # name scope run_id attempt text parts...
	local name=$1 scope=$2 run=$3 attempt=$4 text=$5
	shift 5
	local key
	key=$(printf %s "$text" | sha256sum | cut -d' ' -f1)
	local IFS=$'\t'
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$scope" "$run" "$attempt" "$text" "$key" "$*"
}

printf 'name\tscope\trun_id\tattempt\ttext\tkey\tparts...\n'
row global-single         global  run_1 2 'a'                       a
row global-multi          global  run_1 2 'a-b'                     a b
row run-single            run     run_1 2 'a-run_1'                 a
row run-multi             run     run_1 2 'a-b-run_1'               a b
row attempt-single        attempt run_1 1 'order-42-run_1-1'        order-42
row attempt-multi         attempt run_1 2 'a-b-run_1-2'             a b
row attempt-large         attempt run_1 2147483647 'a-run_1-2147483647' a
row attempt-zero-is-first attempt run_1 0 'a-run_1-1'               a
row default-in-task       ''      run_1 2 'a-b-run_1'               a b
row no-run-global         global  ''    0 'a-b'                     a b
row no-run-run            run     ''    0 'a-b'                     a b
row no-run-attempt        attempt ''    0 'a-b'                     a b
row no-run-default        ''      ''    0 'a-b'                     a b
row empty-middle-part     global  ''    0 'a--b'                    a '' b
row unicode-run           run     run_1 2 'café-日本語-😀-run_1'      café 日本語 😀
row unicode-attempt       attempt 0195f3a2-7c1e-7d3a-9b1f-4c2d8e6a5b10 3 'Ünïcödé-0195f3a2-7c1e-7d3a-9b1f-4c2d8e6a5b10-3' Ünïcödé
row unicode-global        global  run_1 2 'ключ-🔑'                  ключ 🔑
row realistic-run         run     0195f3a2-7c1e-7d3a-9b1f-4c2d8e6a5b10 1 'user-123-welcome-email-0195f3a2-7c1e-7d3a-9b1f-4c2d8e6a5b10' user-123 welcome-email
row test-suite-fallback   run     default-test-workflow-id/default-test-run-id 1 'k-default-test-workflow-id/default-test-run-id' k
