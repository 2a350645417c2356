#!/bin/sh
# `medsam serve` over HTTP (curl as the client): every supported upload format
# gives exactly the mask `medsam segment` writes for the same input and boxes;
# a 3-D job's NIfTI equals `medsam segment -B`'s; the error statuses (400, 401,
# 403, 404, 405, 413, 415, 429); 1,000 malformed requests each get a 4xx and
# the server keeps serving; disconnects mid-upload / mid-response and slow
# uploads; SIGTERM stops it cleanly and removes its temporary files.
# tests/fixtures/serve/ct_series.zip is tests/fixtures/dicom/ct_series zipped.
. tests/lib_cli.sh
M=tests/fixtures/tiny/model.pth
I=tests/fixtures/images
V=tests/fixtures/volume
SRV=
trap '[ -n "$SRV" ] && kill "$SRV" 2>/dev/null; rm -rf "$T"' EXIT
if ! command -v curl >/dev/null 2>&1; then
    bad "curl is not installed (Debian package curl)"
    summary
    exit 1
fi

# start_server ARGS...: runs `medsam serve --port 0 ARGS`, sets SRV (pid) and U (base URL)
start_server() {
    : >"$T/srv.err"
    # SERVE_ASAN_OPTIONS=detect_leaks=1 checks the server (only) for leaks under `make asan-test`'s build
    TMPDIR=$T ASAN_OPTIONS=${SERVE_ASAN_OPTIONS:-${ASAN_OPTIONS:-}} $B serve -m $M --port 0 --threads 2 "$@" 2>"$T/srv.err" &
    SRV=$!
    U=
    i=0
    while [ $i -lt 600 ] && [ -z "$U" ]; do
        U=$(sed -n 's|.*\(http://127\.0\.0\.1:[0-9]*\)/.*|\1|p' "$T/srv.err")
        [ -z "$U" ] && { kill -0 $SRV 2>/dev/null || break; sleep 0.1; }
        i=$((i + 1))
    done
    [ -n "$U" ] || { bad "server did not start: $(cat "$T/srv.err")"; summary; exit 1; }
}
stop_server() {
    kill -TERM "$SRV"; wait "$SRV"; src=$?; SRV=
    if grep -q 'Sanitizer' "$T/srv.err"; then bad "server sanitizer report: $(grep -m3 'Sanitizer' "$T/srv.err")"; src=1; fi
}
C="curl -s --max-time 60"
OCT="Content-Type: application/octet-stream"
JS="Content-Type: application/json"
# up FILE [QUERY]: uploads; JSON in $T/up.json, status in UP, ID = the new image's id
up() {
    UP=$($C -o "$T/up.json" -w '%{http_code}' -H "$OCT" --data-binary @"$1" "$U/api/images${2:-}")
    ID=$(sed -n 's/.*"id": "\([0-9a-f]*\)".*/\1/p' "$T/up.json")
}
field() { sed -n "s/.*\"$1\": \\([0-9]*\\).*/\\1/p" "$T/up.json"; }
# seg ID JSON OUT: prints the status of POST /segment
seg() { $C -o "$3" -w '%{http_code}' -H "$JS" -d "$2" "$U/api/images/$1/segment"; }
# same NAME FILE QUERY JSON CLI_ARGS...: upload, segment, compare with the CLI's mask byte for byte
same() {
    name=$1 file=$2 q=$3 json=$4; shift 4
    up "$file" "$q"; c1=$UP
    c2=$(seg "$ID" "$json" "$T/api.png")
    if [ "$c1" = 201 ] && [ "$c2" = 200 ] && $B segment -m $M "$@" -o "$T/cli.png" 2>"$T/err" && cmp -s "$T/api.png" "$T/cli.png"; then
        ok "$name: the API's mask = medsam segment's, byte for byte"
    else
        bad "$name: upload $c1 segment $c2 $(cat "$T/up.json") $(cat "$T/err")"
    fi
}

start_server --max-upload-mb 1
[ "$($C -o /dev/null -w '%{http_code}' "$U/api/health")" = 200 ] && ok "GET /api/health: 200" || bad "health"
[ "$($C -o "$T/index.html" -w '%{http_code}' "$U/")" = 200 ] && grep -q 'app.js' "$T/index.html" &&
    ok "GET /: the page, from memory" || bad "GET /"

# ---- every format: API mask = CLI mask ----
same "PNG, one box" $I/camera.png "" '{"boxes": [[100,80,400,420]]}' -i $I/camera.png -b 100,80,400,420
CAM=$ID
same "PNG, two boxes" $I/camera.png "" '{"boxes": [[100,80,400,420], [20.5,30,200,260.25]]}' \
    -i $I/camera.png -b 100,80,400,420 -b 20.5,30,200,260.25
same "JPEG" $I/retina.jpg "" '{"boxes": [[300,250,1100,1000]]}' -i $I/retina.jpg -b 300,250,1100,1000
same "BMP" tests/fixtures/bmp/rgb24_odd.bmp "" '{"boxes": [[2,2,18,11]]}' -i tests/fixtures/bmp/rgb24_odd.bmp -b 2,2,18,11
same "NIfTI .nii.gz, window=soft, slice 5, two boxes" $V/ct_phantom.nii.gz "?window=soft" \
    '{"boxes": [[17,18,43,38], [39,26,57,42]], "slice": 5}' -i $V/ct_phantom.nii.gz --window soft --slice 5 -b 17,18,43,38 -b 39,26,57,42
CT=$ID
same "NIfTI .nii (int16, scaled)" tests/fixtures/nifti/le_int16_scaled.nii "" '{"boxes": [[1,1,5,4]], "slice": 1}' \
    -i tests/fixtures/nifti/le_int16_scaled.nii --slice 1 -b 1,1,5,4
same "NIfTI .nii.gz MR (float32, percentiles)" $V/mr_phantom.nii.gz "" '{"boxes": [[8,6,30,28]], "slice": 3}' \
    -i $V/mr_phantom.nii.gz --slice 3 -b 8,6,30,28
same "DICOM file (one slice, no \"slice\")" tests/fixtures/dicom/mr_single.dcm "" '{"boxes": [[2,1,14,10]]}' \
    -i tests/fixtures/dicom/mr_single.dcm --slice 0 -b 2,1,14,10
same "zip of a DICOM series" tests/fixtures/serve/ct_series.zip "" '{"boxes": [[2,2,15,18]], "slice": 2}' \
    -i tests/fixtures/dicom/ct_series --slice 2 -b 2,2,15,18
grep -q '"depth": 4' "$T/up.json" && grep -q '"format": "dicom"' "$T/up.json" && ok "zip of a DICOM series: 4 slices, dicom" ||
    bad "zip series info: $(cat "$T/up.json")"
same "CVPR24 npz, 3-D" $V/case3d.npz "" '{"boxes": [[10,10,40,34]], "slice": 3}' -i $V/case3d.npz --slice 3 -b 10,10,40,34
# a 2-D CVPR24 npz is shown as the PNG of its imgs: the CLI on that PNG gives the same mask
up $V/case2d.npz
if [ "$UP" = 201 ] && [ "$(seg "$ID" '{"boxes": [[5,6,60,50]]}' "$T/api.png")" = 200 ] &&
    $C -o "$T/c2.png" "$U/api/images/$ID/slices/0" && $B segment -m $M -i "$T/c2.png" -b 5,6,60,50 -o "$T/cli.png" &&
    cmp -s "$T/api.png" "$T/cli.png"; then
    ok "CVPR24 npz, 2-D: the API's mask = medsam segment's on its pixels"
else
    bad "npz 2-D: $(cat "$T/up.json")"
fi

# ---- display slices ----
$C -o "$T/s.bin" "$U/api/images/$CAM/slices/0" && cmp -s "$T/s.bin" $I/camera.png && ok "2-D slice: the uploaded file" ||
    bad "2-D slice bytes"
$C -o "$T/s.bin" "$U/api/images/$CT/slices/13" && [ "$(wc -c <"$T/s.bin")" -eq $((72 * 60 * 4)) ] &&
    ok "volume slice: 72x60 float32 values" || bad "volume slice size"

# ---- 3-D job = medsam segment -B ----
$C -o "$T/job.json" -w '%{http_code}' -H "$JS" -d '{"boxes": [[17,18,1,43,38,12], [39,26,4,57,42,13]]}' \
    "$U/api/images/$CT/segment" >"$T/code"
JOB=$(sed -n 's/.*"job": "\([0-9a-f]*\)".*/\1/p' "$T/job.json")
[ "$(cat "$T/code")" = 202 ] && [ -n "$JOB" ] && ok "3-D boxes: 202 and a job id" || bad "job start: $(cat "$T/job.json")"
state=
i=0
while [ $i -lt 600 ]; do
    $C -o "$T/js.json" "$U/api/jobs/$JOB"
    state=$(sed -n 's/.*"state": "\([a-z]*\)".*/\1/p' "$T/js.json")
    [ "$state" = queued ] || [ "$state" = running ] || break
    sleep 0.1; i=$((i + 1))
done
grep -q '"done": 13, "total": 13' "$T/js.json" && [ "$state" = done ] && ok "job done, progress 13/13" || bad "job: $(cat "$T/js.json")"
$B segment -m $M -i $V/ct_phantom.nii.gz --window soft -B 17,18,1,43,38,12 -B 39,26,4,57,42,13 -o "$T/cli.nii"
$C -o "$T/job.nii.gz" "$U/api/jobs/$JOB/result"
gzip -dc "$T/job.nii.gz" | cmp -s - "$T/cli.nii" && ok "job NIfTI = medsam segment -B's, byte for byte" || bad "job NIfTI differs"
$C -o "$T/job.raw" "$U/api/jobs/$JOB/labels"
tail -c +353 "$T/cli.nii" | cmp -s - "$T/job.raw" && ok "job labels (raw) = the CLI's voxels" || bad "job raw labels"
$C -o "$T/back.nii.gz" -H "$OCT" --data-binary @"$T/job.raw" "$U/api/images/$CT/labels"
gzip -dc "$T/back.nii.gz" | cmp -s - "$T/cli.nii" && ok "POST labels: the page's label map as NIfTI on the input's grid" ||
    bad "labels NIfTI"
head -c 10 "$T/job.raw" >"$T/short.raw"
[ "$($C -o /dev/null -w '%{http_code}' -H "$OCT" --data-binary @"$T/short.raw" "$U/api/images/$CT/labels")" = 400 ] &&
    ok "POST labels of the wrong size: 400" || bad "labels wrong size"

# ---- error statuses ----
# check NAME CODE CURL_ARGS...: the status must be CODE and the body {"error": "..."}
check() {
    name=$1 want=$2; shift 2
    got=$($C -o "$T/e.json" -w '%{http_code}' "$@")
    if [ "$got" = "$want" ] && grep -q '^{"error": ".*"}$' "$T/e.json"; then ok "$name: $got $(cat "$T/e.json")"
    else bad "$name: got $got, want $want: $(cat "$T/e.json")"; fi
}
check "unknown path" 404 "$U/nope"
check "unknown image id" 404 "$U/api/images/0123456789abcdef0123456789abcdef"
check "malformed image id" 404 "$U/api/images/xyz/segment"
check "slice out of range" 404 "$U/api/images/$CT/slices/14"
check "unknown job" 404 "$U/api/jobs/0123456789abcdef0123456789abcdef"
check "GET /api/images" 405 "$U/api/images"
check "PUT /api/health" 405 -X PUT "$U/api/health"
check "bad JSON" 400 -H "$JS" -d '{"boxes": [[1,2,3,4]' "$U/api/images/$CAM/segment"
check "NaN" 400 -H "$JS" -d '{"boxes": [[NaN,2,3,4]]}' "$U/api/images/$CAM/segment"
check "box outside the image" 400 -H "$JS" -d '{"boxes": [[1,2,3,600]]}' "$U/api/images/$CAM/segment"
check "slice out of range (segment)" 400 -H "$JS" -d '{"boxes": [[1,2,3,4]], "slice": 14}' "$U/api/images/$CT/segment"
check "volume without slice" 400 -H "$JS" -d '{"boxes": [[1,2,3,4]]}' "$U/api/images/$CT/segment"
check "3-D boxes on a 2-D image" 400 -H "$JS" -d '{"boxes": [[1,2,0,3,4,0]]}' "$U/api/images/$CAM/segment"
check "z1 past the volume" 400 -H "$JS" -d '{"boxes": [[1,2,0,3,4,14]]}' "$U/api/images/$CT/segment"
check "unknown field" 400 -H "$JS" -d '{"boxes": [[1,2,3,4]], "points": []}' "$U/api/images/$CAM/segment"
head -c 2000000 /dev/zero >"$T/big.bin"
check "upload over --max-upload-mb 1 (Content-Length)" 413 -H "$OCT" --data-binary @"$T/big.bin" "$U/api/images"
check "upload over the limit (chunked)" 413 -H "$OCT" -H "Transfer-Encoding: chunked" --data-binary @"$T/big.bin" "$U/api/images"
printf 'not an image at all' >"$T/junk.bin"
check "unreadable upload" 415 -H "$OCT" --data-binary @"$T/junk.bin" "$U/api/images"
check "truncated DICOM" 415 -H "$OCT" --data-binary @tests/fixtures/dicom/truncated.dcm "$U/api/images"
check "RGB NIfTI (not segmentable)" 415 -H "$OCT" --data-binary @tests/fixtures/nifti/rgb24.nii "$U/api/images"
check "form content type (CSRF)" 415 --data-binary @$I/camera.png "$U/api/images"
check "JSON without its content type" 415 -d '{"boxes": [[1,2,3,4]]}' "$U/api/images/$CAM/segment"
check "foreign Host header (DNS rebinding)" 403 -H "Host: evil.example:80" "$U/api/health"
check "bad window=" 400 -H "$OCT" --data-binary @$V/ct_phantom.nii.gz "$U/api/images?window=nope"
d=$($C -o /dev/null -w '%{http_code}' -X DELETE "$U/api/images/$CAM")
[ "$d" = 200 ] && check "segment after DELETE" 404 -H "$JS" -d '{"boxes": [[1,2,3,4]]}' "$U/api/images/$CAM/segment" ||
    bad "DELETE: $d"

# ---- 1,000 malformed requests: each a 4xx, the server still serving ----
up $I/camera.png
IMG=$ID
mkdir -p "$T/bad"
cat >"$T/templates" <<'TEMPLATES'
{
{"boxes": [[1,2,3,4]]
{"boxes": [[1,2,3,4]],}
[@,2]
"@"
{"boxes": [[NaN,@,2,3]]}
{"boxes": [[Infinity,1,2,@]]}
{"boxes": [[1e40@,1,2,3]]}
{"boxes": [[1,2,@]]}
{"boxes": [["@",2,3,4]]}
{"boxes": [[1,2,3,4]], "slice": -@}
{"boxes": [[1,2,3,4]], "slice": 1.@}
{"boxes": [[1,2,3,4]], "slice": 9999@}
{"boxes": [[1,2,3,4]], "foo@": 1}
{"boxes": [[1,2,3,4]], "boxes": [[1,2,3,4]]}
{"boxes": [], "x": @}
{"boxes": [[@,2,1,4]]}
{"boxes": [[1,2,3,9999@]]}
{"boxes": [[01,2,3,4]], "x": @}
{} @
{"boxes": null, "r": @}
{"boxes": [[1,2,0,3,4,@]]}
{"boxes": [[1,2,3,4], [1,2,3,4,5,@]]}
{"boxes": [[1,2,3,4]], "slice": "@"}
{"boxes": [[-1e308,2,3,@]]}
{"boxes": [[true,2,3,@]]}
{"boxes": {"a": @}}
{"boxes": [[1,2,3,4]], "margin": @}
{"boxes": [[1,2,3,4]] "slice": @}
{'boxes': [[1,2,3,4]], "x": @}
{"boxes": [[1,2,3,4]]}} @
{"b\u0000x": @}
{"boxes": [[1,2,3,4.]], "x": @}
{"boxes": [[1,2,3,-]], "x": @}
{"boxes": [[1,2,3,4e]], "x": @}
{"boxes": [[0x1@,2,3,4]]}
{"boxes":[[1,2,3,4]],"slice":0,"slice":@}
{"boxes": [[1,2,3,4]], "\ud800": @}
TEMPLATES
n=0
: >"$T/requests"
# req URL [CURL CONFIG LINES...]
req() {
    u=$1; shift
    { printf 'url = "%s"\npath-as-is\noutput = "/dev/null"\nwrite-out = "%%{http_code}\\n"\n' "$u"
      for l in "$@"; do printf '%s\n' "$l"; done; echo next; } >>"$T/requests"
    echo "$u $*" >>"$T/urls"
    n=$((n + 1))
}
r=1
while [ $r -le 25 ]; do
    k=0
    while IFS= read -r t; do
        k=$((k + 1))
        printf '%s' "$t" | sed "s/@/$r/g" >"$T/bad/$r.$k"
        req "$U/api/images/$IMG/segment" 'header = "Content-Type: application/json"' "data-binary = \"@$T/bad/$r.$k\""
    done <"$T/templates"
    r=$((r + 1))
done
# deep nesting, too many boxes, invalid UTF-8, an empty body
i=0; s=; while [ $i -lt 200 ]; do s="[$s"; i=$((i + 1)); done; printf '{"boxes": %s}' "$s" >"$T/bad/deep"
i=0; s='[1,2,3,4]'; while [ $i -lt 300 ]; do s="$s,[1,2,3,4]"; i=$((i + 1)); done; printf '{"boxes": [%s]}' "$s" >"$T/bad/many"
printf '{"boxes": [[1,2,3,4]], "\377\376": 1}' >"$T/bad/utf8"
: >"$T/bad/empty"
for f in deep many utf8 empty; do
    for j in 1 2 3 4 5; do req "$U/api/images/$IMG/segment" 'header = "Content-Type: application/json"' "data-binary = \"@$T/bad/$f\""; done
done
# path traversal and malformed paths
for p in "/api/images/../../etc/passwd" "/../../etc/passwd" "/api/images/%2e%2e%2f%2e%2e%2fetc%2fpasswd" \
         "/api/images/$IMG/slices/-1" "/api/images/$IMG/slices/00" "/api/images/$IMG/slices/99999999999999" \
         "/api/images/$IMG/slices/1" "/api/images/$IMG/../../index.html" "/api/images/${IMG}0" "/api/images/$IMG/segment/x" \
         "/api/jobs/$IMG/result" "/api/images/$(echo "$IMG" | tr 'a-f' 'A-F')" "/index.html/../../etc/passwd" \
         "/api//images" "/api/images/$IMG/slices/1%00" "/%00" "/api/health/../health/x"; do
    req "$U$p"
done
# truncated files, wrong content types, bodies where none belong
for f in $I/camera.png $V/ct_phantom.nii.gz tests/fixtures/dicom/mr_single.dcm $V/case3d.npz tests/fixtures/serve/ct_series.zip; do
    for c in 7 100 1000; do
        head -c $c "$f" >"$T/bad/trunc.$c.$(basename "$f")"
        req "$U/api/images" "header = \"$OCT\"" "data-binary = \"@$T/bad/trunc.$c.$(basename "$f")\""
    done
done
for j in 1 2 3 4 5; do
    req "$U/api/images/$IMG/segment" 'header = "Content-Type: text/plain"' 'data = "{}"'
    req "$U/api/health" 'data = "x"' 'request = "GET"'
    req "$U/api/images/$IMG" 'request = "PATCH"'
done
while [ $n -lt 1000 ]; do req "$U/api/images/$IMG/segment" 'header = "Content-Type: application/json"' "data-binary = \"@$T/bad/1.1\""; done
sed '$d' "$T/requests" >"$T/requests.cfg" # no `next` after the last one
curl -s --max-time 300 -K "$T/requests.cfg" >"$T/codes"
total=$(wc -l <"$T/codes")
not4xx=$(grep -c -v '^4[0-9][0-9]$' "$T/codes")
if [ "$total" -eq "$n" ] && [ "$n" -ge 1000 ] && [ "$not4xx" -eq 0 ]; then
    ok "$n malformed requests: every answer a 4xx ($(sort "$T/codes" | uniq -c | tr -s ' \n' ' '))"
else
    bad "malformed requests: $total answers of $n, $not4xx not 4xx: $(sort "$T/codes" | uniq -c | tr -s ' \n' ' ')"
    paste "$T/codes" "$T/urls" | grep -v '^4' | head -5
fi

# ---- disconnects and slow clients ----
head -c 900000 $I/retina.jpg >"$T/part.bin"; cat $I/retina.jpg >>"$T/part.bin"
$C --limit-rate 100k --max-time 1 -o /dev/null -H "$OCT" --data-binary @"$T/part.bin" "$U/api/images"
[ $? -eq 28 ] && ok "client gone mid-upload (curl timed out)" || bad "mid-upload disconnect did not happen"
up $I/retina.jpg
got=$($C "$U/api/images/$ID/slices/0" | head -c 100 | wc -c)
[ "$got" -eq 100 ] && ok "client gone mid-response (closed after 100 bytes)" || bad "mid-response: $got bytes"
code=$($C --limit-rate 60k -o "$T/up.json" -w '%{http_code}' -H "$OCT" --data-binary @$I/horse.png "$U/api/images")
[ "$code" = 201 ] && ok "slow upload (60 kB/s): 201" || bad "slow upload: $code"
same "still serving after all that" $V/ct_phantom.nii.gz "?window=soft" '{"boxes": [[17,18,43,38]], "slice": 5}' \
    -i $V/ct_phantom.nii.gz --window soft --slice 5 -b 17,18,43,38
left=$(ls "$T"/medsam-serve-* | grep -c upload || true)
[ "$left" -eq 0 ] && ok "no upload left behind in the private folder" || bad "$left upload files left: $(ls "$T"/medsam-serve-*)"
stop_server
if [ "$src" -eq 0 ] && grep -q 'stopping (SIGTERM)' "$T/srv.err" && ! ls -d "$T"/medsam-serve-* >/dev/null 2>&1; then
    ok "SIGTERM: exit 0, private folder removed"
else
    bad "SIGTERM: exit $src: $(cat "$T/srv.err")"
fi

# ---- token, full queue, options ----
start_server --token s3cret-token-42
check "no token" 401 "$U/api/health"
check "wrong token" 401 -H "Authorization: Bearer s3cret-token-43" "$U/api/health"
[ "$($C -o /dev/null -w '%{http_code}' -H "Authorization: Bearer s3cret-token-42" "$U/api/health")" = 200 ] &&
    [ "$($C -o /dev/null -w '%{http_code}' -b "medsam_token=s3cret-token-42" "$U/api/health")" = 200 ] &&
    $C -D - -o /dev/null "$U/?token=s3cret-token-42" | grep -qi '^Set-Cookie: medsam_token=s3cret-token-42; HttpOnly; SameSite=Strict' &&
    ok "token: bearer header, cookie, and the page's ?token= sets the cookie" || bad "token accepted paths"
stop_server
start_server --queue 0
up $I/camera.png
check "encode queue full" 429 -H "$JS" -d '{"boxes": [[1,2,30,40]]}' "$U/api/images/$ID/segment"
stop_server
# a LiteMedSAM model: the server preprocesses through the model's pipeline (lite), as `medsam segment` does
M=tests/fixtures/lite/model.pth
start_server
same "LiteMedSAM model (lite pipeline), PNG" $I/camera.png "" '{"boxes": [[100,80,400,420]]}' -i $I/camera.png -b 100,80,400,420
same "LiteMedSAM model, NIfTI slice" $V/ct_phantom.nii.gz "?window=soft" '{"boxes": [[17,18,43,38]], "slice": 5}' \
    -i $V/ct_phantom.nii.gz --window soft --slice 5 -b 17,18,43,38
stop_server
M=tests/fixtures/tiny/model.pth
start_server --pipeline sam
up $I/camera.png; seg "$ID" '{"boxes": [[100,80,400,420]]}' "$T/api.png" >/dev/null
$B segment -m $M --pipeline sam -i $I/camera.png -b 100,80,400,420 -o "$T/cli.png" 2>/dev/null &&
    cmp -s "$T/api.png" "$T/cli.png" && ok "--pipeline sam: the API's mask = medsam segment --pipeline sam's" ||
    bad "--pipeline sam mask"
stop_server
# a model whose file asks for box zoom: a small box is cut to its window as `medsam segment` cuts it
"$B" convert tests/fixtures/tiny/model.pth "$T/zoom3.safetensors" --box-zoom 3 >/dev/null 2>&1
M=$T/zoom3.safetensors
start_server
same "box zoom 3, small box (its window)" $I/camera.png "" '{"boxes": [[200,150,230,170]]}' -i $I/camera.png -b 200,150,230,170
same "box zoom 3, large + small box" $I/camera.png "" '{"boxes": [[10,10,500,500],[200,150,230,170]]}' \
    -i $I/camera.png -b 10,10,500,500 -b 200,150,230,170
stop_server
start_server --box-zoom 0
same "--box-zoom 0 on the server = segment --box-zoom 0" $I/camera.png "" '{"boxes": [[200,150,230,170]]}' \
    -i $I/camera.png -b 200,150,230,170 --box-zoom 0
stop_server
M=tests/fixtures/tiny/model.pth
# memory budgets: one upload's decoded size (413), and all held volumes together (503 until one is deleted)
start_server --max-memory 1K
up $I/camera.png
[ "$UP" = 413 ] && grep -q 'budget' "$T/up.json" && ok "upload over --max-memory: 413 $(cat "$T/up.json")" ||
    bad "upload over --max-memory: $UP $(cat "$T/up.json")"
stop_server
start_server --max-memory-total 300K
up $V/ct_phantom.nii.gz; c1=$UP; first=$ID
up $V/ct_phantom.nii.gz; c2=$UP
$C -o /dev/null -X DELETE "$U/api/images/$first"
up $V/ct_phantom.nii.gz; c3=$UP
[ "$c1" = 201 ] && [ "$c2" = 503 ] && [ "$c3" = 201 ] && ok "--max-memory-total: second volume 503, accepted after a delete" ||
    bad "--max-memory-total: $c1 $c2 $c3 $(cat "$T/up.json")"
stop_server
expect "bad --max-memory" "max-memory" $B serve -m $M --max-memory 12Q --port 0
expect "bad --pipeline" "--pipeline" $B serve -m $M --pipeline fast --port 0
expect "--host 0.0.0.0 without --token" "pass --token" $B serve -m $M --host 0.0.0.0 --port 0
expect "no -m, no default model" "make default-model" env MEDSAM_DEFAULT_MODEL=$T/none.safetensors $B serve --port 0
expect "bad --port" "--port" $B serve -m $M --port 70000
expect "short token" "--token" $B serve -m $M --token abc
summary
