// serve.test.js — the medsam serve page in a real browser (Debian's chromium
// through playwright-core): open a volume with the file picker, drag a box
// with the mouse, compare the mask with `medsam segment`'s, undo / redo,
// propagate through slices, download the NIfTI and check it; drop a 2-D
// image on the page. Run by tests/cli_browser.sh (BUILD, MEDSAM_SHOTS).
'use strict';
const test = require('node:test');
const assert = require('node:assert');
const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const zlib = require('node:zlib');
const { chromium } = require('playwright-core');

const ROOT = path.resolve(__dirname, '..', '..');
const BIN = path.resolve(ROOT, process.env.BUILD || 'build', 'medsam');
const MODEL = path.join(ROOT, 'tests/fixtures/tiny/model.pth');
const CT = path.join(ROOT, 'tests/fixtures/volume/ct_phantom.nii.gz');
const CAMERA = path.join(ROOT, 'tests/fixtures/images/camera.png');
const SHOTS = path.resolve(ROOT, process.env.MEDSAM_SHOTS || path.join(process.env.BUILD || 'build', 'screenshots'));
const TMP = fs.mkdtempSync(path.join(os.tmpdir(), 'medsam-browser-'));

let server, url, browser, page;

function startServer() {
  return new Promise((resolve, reject) => {
    server = spawn(BIN, ['serve', '-m', MODEL, '--port', '0', '--threads', '1'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    const timer = setTimeout(() => reject(new Error('server not ready in 60 s: ' + err)), 60000);
    server.stderr.on('data', (d) => {
      err += d;
      const m = /http:\/\/([0-9.]+):(\d+)\//.exec(err);
      if (m) { clearTimeout(timer); resolve(m[0]); }
    });
    server.on('exit', (code) => reject(new Error('server exited ' + code + ': ' + err)));
  });
}

test.before(async () => {
  fs.mkdirSync(SHOTS, { recursive: true });
  url = await startServer();
  // a fresh profile folder (--user-data-dir) for every run
  browser = await chromium.launchPersistentContext(path.join(TMP, 'profile'), {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
           '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1280, height: 800 },
    acceptDownloads: true,
  });
  page = browser.pages()[0] || await browser.newPage();
  page.on('pageerror', (e) => { throw e; });
});

test.after(async () => {
  if (browser) await browser.close();
  if (server) server.kill('SIGTERM');
  fs.rmSync(TMP, { recursive: true, force: true });
});

const idle = () => page.waitForFunction(() => window.medsam.busy === 0 &&
  document.getElementById('status').dataset.state !== 'busy', null, { timeout: 60000 });

// Client coordinates of image pixel (x, y) on the canvas (the page fits the image, centred).
async function clientOf(x, y) {
  return page.evaluate(([x, y]) => {
    const v = document.getElementById('view'), r = v.getBoundingClientRect(), S = window.medsam;
    const s = Math.min(r.width / S.info.width, r.height / S.info.height);
    return [r.left + (r.width - S.info.width * s) / 2 + x * s, r.top + (r.height - S.info.height * s) / 2 + y * s];
  }, [x, y]);
}

async function dragBox(x0, y0, x1, y1) {
  const [a, b] = await clientOf(x0, y0), [c, d] = await clientOf(x1, y1);
  await page.mouse.move(a, b);
  await page.mouse.down();
  await page.mouse.move((a + c) / 2, (b + d) / 2, { steps: 4 });
  await page.mouse.move(c, d, { steps: 4 });
  await page.mouse.up();
}

// Non-zero pixels of a PNG file, decoded by the browser.
async function pngCount(file) {
  const b64 = fs.readFileSync(file).toString('base64');
  return page.evaluate(async (b64) => {
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const bmp = await createImageBitmap(new Blob([bytes], { type: 'image/png' }));
    const c = document.createElement('canvas');
    c.width = bmp.width; c.height = bmp.height;
    const g = c.getContext('2d');
    g.drawImage(bmp, 0, 0);
    const d = g.getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let p = 0; p < d.length; p += 4) if (d[p]) n++;
    return n;
  }, b64);
}

test('volume: box -> mask equals medsam segment, undo/redo, propagate, NIfTI download', async () => {
  await page.goto(url);
  await page.setInputFiles('#file', CT);
  await page.waitForFunction(() => window.medsam.info && window.medsam.slices.size > 0, null, { timeout: 60000 });
  await idle();
  const z = await page.evaluate(() => window.medsam.z);
  await dragBox(16.3, 17.6, 43.2, 38.4);
  await page.waitForFunction(() => window.medsam.lastBox && window.medsam.lastBox.pixels !== undefined, null,
                             { timeout: 60000 });
  await idle();
  const { box, pixels } = await page.evaluate(() => window.medsam.lastBox);
  const got = await page.evaluate((z) => window.medsam.count(z), z);
  assert.strictEqual(got, pixels);
  const cliPng = path.join(TMP, 'cli.png');
  execFileSync(BIN, ['segment', '-m', MODEL, '-i', CT, '--slice', String(z), '-b', box.join(','), '-o', cliPng]);
  const want = await pngCount(cliPng);
  assert.ok(want > 0, 'the CLI mask is empty');
  assert.strictEqual(got, want, `page mask ${got} pixels, CLI ${want} (box ${box} slice ${z})`);
  await page.screenshot({ path: path.join(SHOTS, 'serve_volume_mask.png') });

  await page.keyboard.press('Control+z');
  assert.strictEqual(await page.evaluate((z) => window.medsam.count(z), z), 0, 'undo leaves the slice empty');
  await page.keyboard.press('Control+y');
  assert.strictEqual(await page.evaluate((z) => window.medsam.count(z), z), got, 'redo brings the mask back');

  await page.fill('#zfrom', String(z - 3));
  await page.fill('#zto', String(z + 3));
  await page.click('#propagate');
  await page.waitForFunction(() => /propagated/.test(document.getElementById('status').textContent), null,
                             { timeout: 60000 });
  const counts = await page.evaluate(() => {
    const S = window.medsam, out = [];
    for (let k = 0; k < S.info.depth; k++) out.push(S.count(k));
    return out;
  });
  assert.ok(counts[z - 3] > 0 && counts[z + 3] > 0, 'propagation reached both ends: ' + counts);
  assert.strictEqual(counts[z - 4] + counts[z + 4], 0, 'nothing outside z-3..z+3: ' + counts);
  await page.keyboard.press('ArrowUp');
  await page.screenshot({ path: path.join(SHOTS, 'serve_volume_propagated.png') });

  const [dl] = await Promise.all([page.waitForEvent('download'), page.click('#download')]);
  assert.strictEqual(dl.suggestedFilename(), 'labels.nii.gz');
  const file = path.join(TMP, 'labels.nii.gz');
  await dl.saveAs(file);
  const nii = zlib.gunzipSync(fs.readFileSync(file));
  assert.strictEqual(nii.readInt32LE(0), 348);
  assert.deepStrictEqual([1, 2, 3].map((i) => nii.readInt16LE(40 + 2 * i)), [72, 60, 14]);
  assert.strictEqual(nii.readInt16LE(70), 2, 'uint8 labels');
  const data = nii.subarray(nii.readFloatLE(108));
  const pageLabels = Buffer.from(await page.evaluate(() => Array.from(window.medsam.labels)));
  assert.ok(data.equals(pageLabels), 'the NIfTI holds the page\'s label map');
  // same grid as the CLI writes for this volume: the header of `medsam segment -B` matches byte for byte
  const cliNii = path.join(TMP, 'cli.nii');
  execFileSync(BIN, ['segment', '-m', MODEL, '-i', CT, '-B', '17,18,1,43,38,12', '-o', cliNii]);
  assert.ok(fs.readFileSync(cliNii).subarray(0, 352).equals(nii.subarray(0, 352)), 'NIfTI header = the CLI\'s');
});

test('2-D image dropped on the page: box -> mask equals medsam segment', async () => {
  await page.goto(url);
  const b64 = fs.readFileSync(CAMERA).toString('base64');
  await page.evaluate(async (b64) => {
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const dt = new DataTransfer();
    dt.items.add(new File([bytes], 'camera.png', { type: 'image/png' }));
    document.getElementById('stage').dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
  }, b64);
  await page.waitForFunction(() => window.medsam.info && window.medsam.slices.size > 0, null, { timeout: 60000 });
  await idle();
  await page.keyboard.press('2'); // second label
  await dragBox(100, 80, 400, 420);
  await page.waitForFunction(() => window.medsam.lastBox && window.medsam.lastBox.pixels !== undefined, null,
                             { timeout: 60000 });
  await idle();
  const { box, label } = await page.evaluate(() => window.medsam.lastBox);
  assert.strictEqual(label, 2);
  const got = await page.evaluate(() => window.medsam.count(0, 2));
  const cliPng = path.join(TMP, 'cam.png');
  execFileSync(BIN, ['segment', '-m', MODEL, '-i', CAMERA, '-b', box.join(','), '-o', cliPng]);
  assert.strictEqual(got, await pngCount(cliPng));
  await page.keyboard.press('?');
  assert.strictEqual(await page.isVisible('#help'), true, '? opens the help');
  await page.screenshot({ path: path.join(SHOTS, 'serve_image_help.png') });
  await page.keyboard.press('Escape');
  await page.screenshot({ path: path.join(SHOTS, 'serve_image_mask.png') });
});
