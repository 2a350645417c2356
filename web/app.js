// app.js — the medsam.c page: open an image or volume, draw boxes, see masks.
// Plain JavaScript and Canvas 2D; every number comes from the server's API.
'use strict';
(() => {
  const $ = (id) => document.getElementById(id);
  const view = $('view'), ctx = view.getContext('2d');
  const COLOURS = ['#ff4040', '#40d040', '#4080ff', '#ffd020', '#ff40ff', '#40e0e0', '#ff9020', '#a070ff', '#ffffff'];
  const PRESETS = { soft: [40, 400], lung: [-600, 1500], bone: [400, 1800], brain: [40, 80] };

  const S = {
    info: null,            // the server's answer to the upload
    z: 0,
    labels: null,          // Uint8Array (depth, height, width), the page's label map
    undo: [], redo: [],    // {z: [...], prev: [Uint8Array slice, ...]}
    cur: 1,
    names: ['label 1', 'label 2', 'label 3'],
    level: 127.5, width: 255,
    opacity: 0.45, outline: true,
    slices: new Map(),     // z -> Float32Array (volume) or Uint8ClampedArray RGBA (2-D)
    encoded: new Set(),    // slices whose embedding the server has
    drag: null,            // {kind: 'box'|'wl', x0, y0, x1, y1, ...}
    lastBox: null,
    busy: 0,
    job: null,
  };
  window.medsam = S;       // for the browser test and the curious

  // ---- status ---------------------------------------------------------------
  function status(text, state) {
    const s = $('status');
    s.textContent = text;
    s.dataset.state = state || 'idle';
  }
  async function apiError(r) {
    try { const j = await r.json(); return j.error || r.statusText; } catch (e) { return r.status + ' ' + r.statusText; }
  }

  // ---- labels ---------------------------------------------------------------
  function drawLabelList() {
    const box = $('labels');
    box.textContent = '';
    S.names.forEach((name, i) => {
      const k = i + 1, el = document.createElement('span');
      el.className = 'label' + (k === S.cur ? ' on' : '');
      el.title = 'label ' + k + ' (key ' + k + ')';
      const sw = document.createElement('span');
      sw.className = 'sw';
      sw.style.background = COLOURS[i % COLOURS.length];
      const inp = document.createElement('input');
      inp.value = name;
      inp.addEventListener('change', () => { S.names[i] = inp.value; });
      el.append(sw, inp);
      el.addEventListener('mousedown', () => { S.cur = k; drawLabelList(); });
      box.append(el);
    });
  }
  $('addlabel').onclick = () => {
    if (S.names.length < 9) S.names.push('label ' + (S.names.length + 1));
    S.cur = S.names.length;
    drawLabelList();
  };

  // ---- opening a file ---------------------------------------------------------
  async function open(file) {
    status('uploading ' + file.name + '…', 'busy');
    S.busy++;
    try {
      const q = $('intensity').value ? '?window=' + encodeURIComponent($('intensity').value) : '';
      const r = await fetch('api/images' + q, { method: 'POST', body: file,
        headers: { 'Content-Type': 'application/octet-stream' } });
      if (!r.ok) { status(file.name + ': ' + await apiError(r), 'error'); return; }
      if (S.info) fetch('api/images/' + S.info.id, { method: 'DELETE' });
      const info = await r.json();
      S.info = info;
      S.labels = new Uint8Array(info.width * info.height * info.depth);
      S.undo = []; S.redo = []; S.slices.clear(); S.encoded.clear();
      S.z = Math.floor(info.depth / 2);
      S.level = info.window.level; S.width = info.window.width;
      $('preset').value = 'default';
      $('slice').max = info.depth - 1; $('slice').value = S.z;
      $('zfrom').max = $('zto').max = info.depth - 1;
      $('zfrom').value = Math.max(0, S.z - 5); $('zto').value = Math.min(info.depth - 1, S.z + 5);
      $('propagate-box').style.display = info.depth > 1 ? '' : 'none';
      $('slice').style.visibility = info.depth > 1 ? '' : 'hidden';
      $('drop').classList.add('hidden');
      document.title = file.name + ' — medsam.c';
      await showSlice(S.z);
      status(file.name + ': ' + info.width + '×' + info.height + (info.depth > 1 ? '×' + info.depth : '') +
             ' ' + info.format + (info.kind === 'image' ? ' (encoding in the background)' : ''), 'idle');
    } catch (e) {
      status('upload failed: ' + e.message, 'error');
    } finally { S.busy--; }
  }
  $('file').addEventListener('change', (e) => { if (e.target.files[0]) open(e.target.files[0]); e.target.value = ''; });
  document.addEventListener('dragover', (e) => { e.preventDefault(); document.body.classList.add('dragging'); });
  document.addEventListener('dragleave', () => document.body.classList.remove('dragging'));
  document.addEventListener('drop', (e) => {
    e.preventDefault();
    document.body.classList.remove('dragging');
    if (e.dataTransfer.files[0]) open(e.dataTransfer.files[0]);
  });

  // ---- slices -----------------------------------------------------------------
  async function loadSlice(z) {
    if (S.slices.has(z)) return S.slices.get(z);
    const r = await fetch('api/images/' + S.info.id + '/slices/' + z);
    if (!r.ok) throw new Error(await apiError(r));
    let data;
    if (S.info.kind === 'volume') {
      data = new Float32Array(await r.arrayBuffer());
    } else {
      const bmp = await createImageBitmap(await r.blob());
      const c = document.createElement('canvas');
      c.width = S.info.width; c.height = S.info.height;
      const g = c.getContext('2d');
      g.drawImage(bmp, 0, 0);
      data = g.getImageData(0, 0, c.width, c.height).data;
    }
    if (S.slices.size > 64) S.slices.delete(S.slices.keys().next().value);
    S.slices.set(z, data);
    return data;
  }
  async function showSlice(z) {
    if (!S.info) return;
    z = Math.max(0, Math.min(S.info.depth - 1, z));
    S.z = z;
    $('slice').value = z;
    $('zlabel').textContent = S.info.depth > 1 ? 'slice ' + z + ' / ' + (S.info.depth - 1) : '2-D';
    try { await loadSlice(z); } catch (e) { status('slice ' + z + ': ' + e.message, 'error'); return; }
    if (S.z === z) render();
  }
  $('slice').addEventListener('input', (e) => showSlice(+e.target.value));
  view.addEventListener('wheel', (e) => { e.preventDefault(); if (S.info) showSlice(S.z + (e.deltaY > 0 ? 1 : -1)); },
                        { passive: false });

  // ---- drawing ----------------------------------------------------------------
  const img = document.createElement('canvas'), ig = img.getContext('2d');
  function geometry() {
    const W = S.info.width, H = S.info.height;
    const s = Math.min(view.width / W, view.height / H);
    return { s, ox: (view.width - W * s) / 2, oy: (view.height - H * s) / 2 };
  }
  function hexRGB(h) { return [parseInt(h.slice(1, 3), 16), parseInt(h.slice(3, 5), 16), parseInt(h.slice(5, 7), 16)]; }
  function render() {
    const dpr = window.devicePixelRatio || 1;
    const cw = Math.round(view.clientWidth * dpr), ch = Math.round(view.clientHeight * dpr);
    if (view.width !== cw || view.height !== ch) { view.width = cw; view.height = ch; }
    ctx.fillStyle = '#000';
    ctx.fillRect(0, 0, view.width, view.height);
    if (!S.info || !S.slices.has(S.z)) return;
    const W = S.info.width, H = S.info.height, data = S.slices.get(S.z);
    if (img.width !== W || img.height !== H) { img.width = W; img.height = H; }
    const out = ig.createImageData(W, H), o = out.data;
    const lo = S.level - S.width / 2, k = 255 / Math.max(S.width, 1e-6);
    const lab = S.labels.subarray(S.z * W * H, (S.z + 1) * W * H);
    const rgb = COLOURS.map(hexRGB), a = S.opacity;
    const { s, ox, oy } = geometry();
    // outlines: whole edge pixels when the image is shown small, thin lines on pixel borders when enlarged
    const pixelEdges = S.outline && s < 2;
    for (let p = 0; p < W * H; p++) {
      let r, g, b;
      if (S.info.kind === 'volume') {
        r = g = b = (data[p] - lo) * k;
      } else {
        r = (data[4 * p] - lo) * k; g = (data[4 * p + 1] - lo) * k; b = (data[4 * p + 2] - lo) * k;
      }
      const l = lab[p];
      if (l) {
        const c = rgb[(l - 1) % rgb.length];
        const x = p % W, y = (p / W) | 0;
        const edge = pixelEdges && (x === 0 || y === 0 || x === W - 1 || y === H - 1 ||
                     lab[p - 1] !== l || lab[p + 1] !== l || lab[p - W] !== l || lab[p + W] !== l);
        const t = edge ? 1 : a;
        r = r * (1 - t) + c[0] * t; g = g * (1 - t) + c[1] * t; b = b * (1 - t) + c[2] * t;
      }
      o[4 * p] = r; o[4 * p + 1] = g; o[4 * p + 2] = b; o[4 * p + 3] = 255;
    }
    ig.putImageData(out, 0, 0);
    ctx.imageSmoothingEnabled = s < 1;
    ctx.drawImage(img, ox, oy, W * s, H * s);
    if (S.outline && !pixelEdges) drawOutlines(lab, W, H, s, ox, oy);
    const d = S.drag;
    if (d && d.kind === 'box') {
      ctx.strokeStyle = COLOURS[(S.cur - 1) % COLOURS.length];
      ctx.lineWidth = Math.max(1, dpr);
      ctx.setLineDash([6, 4]);
      const x0 = Math.min(d.x0, d.x1), y0 = Math.min(d.y0, d.y1);
      ctx.strokeRect(ox + x0 * s, oy + y0 * s, Math.abs(d.x1 - d.x0) * s, Math.abs(d.y1 - d.y0) * s);
      ctx.setLineDash([]);
    }
  }
  function drawOutlines(lab, W, H, s, ox, oy) {
    const paths = new Map();
    const seg = (l, x0, y0, x1, y1) => {
      let p = paths.get(l);
      if (!p) paths.set(l, (p = new Path2D()));
      p.moveTo(ox + x0 * s, oy + y0 * s);
      p.lineTo(ox + x1 * s, oy + y1 * s);
    };
    for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
      const p = y * W + x, l = lab[p];
      const left = x > 0 ? lab[p - 1] : 0, up = y > 0 ? lab[p - W] : 0;
      if (l !== left) { if (l) seg(l, x, y, x, y + 1); if (left) seg(left, x, y, x, y + 1); }
      if (l !== up) { if (l) seg(l, x, y, x + 1, y); if (up) seg(up, x, y, x + 1, y); }
      if (l && x === W - 1) seg(l, W, y, W, y + 1);
      if (l && y === H - 1) seg(l, x, H, x + 1, H);
    }
    ctx.lineWidth = Math.max(1, (window.devicePixelRatio || 1) * 1.5);
    for (const [l, p] of paths) { ctx.strokeStyle = COLOURS[(l - 1) % COLOURS.length]; ctx.stroke(p); }
  }
  window.addEventListener('resize', render);

  // ---- mouse ------------------------------------------------------------------
  function toImage(e) {
    const r = view.getBoundingClientRect(), dpr = window.devicePixelRatio || 1;
    const { s, ox, oy } = geometry();
    const x = ((e.clientX - r.left) * dpr - ox) / s, y = ((e.clientY - r.top) * dpr - oy) / s;
    return [Math.max(0, Math.min(S.info.width, x)), Math.max(0, Math.min(S.info.height, y))];
  }
  view.addEventListener('contextmenu', (e) => e.preventDefault());
  view.addEventListener('mousedown', (e) => {
    if (!S.info) return;
    const [x, y] = toImage(e);
    if (e.button === 2) S.drag = { kind: 'wl', cx: e.clientX, cy: e.clientY, level: S.level, width: S.width };
    else if (e.button === 0) S.drag = { kind: 'box', x0: x, y0: y, x1: x, y1: y };
  });
  window.addEventListener('mousemove', (e) => {
    const d = S.drag;
    if (!d) return;
    if (d.kind === 'box') { [d.x1, d.y1] = toImage(e); render(); return; }
    const span = Math.max(d.width, 1);
    S.width = Math.max(1e-3, d.width + (e.clientX - d.cx) * span / 200);
    S.level = d.level - (e.clientY - d.cy) * span / 200;
    render();
  });
  window.addEventListener('mouseup', (e) => {
    const d = S.drag;
    S.drag = null;
    if (!d || d.kind !== 'box') return;
    const x0 = Math.floor(Math.min(d.x0, d.x1)), x1 = Math.ceil(Math.max(d.x0, d.x1));
    const y0 = Math.floor(Math.min(d.y0, d.y1)), y1 = Math.ceil(Math.max(d.y0, d.y1));
    render();
    if (x1 - x0 >= 2 && y1 - y0 >= 2) segment([x0, y0, x1, y1]);
  });

  // ---- segmentation -------------------------------------------------------------
  function pushUndo(zs) {
    const n = S.info.width * S.info.height;
    S.undo.push({ z: zs, prev: zs.map((z) => S.labels.slice(z * n, (z + 1) * n)) });
    if (S.undo.length > 100) S.undo.shift();
    S.redo = [];
  }
  function swap(from, to) {
    const step = from.pop();
    if (!step) return;
    const n = S.info.width * S.info.height;
    to.push({ z: step.z, prev: step.z.map((z) => S.labels.slice(z * n, (z + 1) * n)) });
    step.z.forEach((z, i) => S.labels.set(step.prev[i], z * n));
    if (step.z.length === 1 && step.z[0] !== S.z) showSlice(step.z[0]); else render();
  }
  const undo = () => S.info && swap(S.undo, S.redo);
  const redo = () => S.info && swap(S.redo, S.undo);
  function clearSlice() {
    if (!S.info) return;
    const n = S.info.width * S.info.height;
    pushUndo([S.z]);
    S.labels.fill(0, S.z * n, (S.z + 1) * n);
    render();
  }

  async function segment(box) {
    const info = S.info, z = S.z, label = S.cur;
    S.lastBox = { box, z, label };
    const first = !S.encoded.has(z);
    status(first ? 'encoding…' : 'decoding…', 'busy');
    S.busy++;
    const t0 = performance.now();
    try {
      const body = { boxes: [box] };
      if (info.depth > 1) body.slice = z;
      const r = await fetch('api/images/' + info.id + '/segment', { method: 'POST', body: JSON.stringify(body),
        headers: { 'Content-Type': 'application/json' } });
      if (!r.ok) { status('segment: ' + await apiError(r), 'error'); return; }
      const bmp = await createImageBitmap(await r.blob());
      if (S.info !== info) return;
      const c = document.createElement('canvas');
      c.width = info.width; c.height = info.height;
      const g = c.getContext('2d');
      g.drawImage(bmp, 0, 0);
      const m = g.getImageData(0, 0, c.width, c.height).data, n = info.width * info.height;
      pushUndo([z]);
      let count = 0;
      for (let p = 0; p < n; p++) if (m[4 * p]) { S.labels[z * n + p] = label; count++; }
      S.encoded.add(z);
      const ms = performance.now() - t0;
      $('latency').textContent = 'mask in ' + ms.toFixed(0) + ' ms (server ' + (r.headers.get('X-Medsam-Ms') || '?') +
        ' ms' + (r.headers.get('X-Medsam-Encoded') === '1' ? ', encoded' : '') + ')';
      S.lastBox.pixels = count;
      status(count + ' pixels in ' + S.names[label - 1], 'idle');
      if (S.z === z) render();
    } catch (e) {
      status('segment failed: ' + e.message, 'error');
    } finally { S.busy--; }
  }

  // ---- propagation through slices ------------------------------------------------
  async function propagate() {
    const info = S.info;
    if (!info || info.depth < 2 || S.job) return;
    const W = info.width, H = info.height, n = W * H, label = S.cur;
    let x0 = W, y0 = H, x1 = -1, y1 = -1;
    for (let p = 0; p < n; p++) if (S.labels[S.z * n + p] === label) {
      const x = p % W, y = (p / W) | 0;
      x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y);
    }
    if (x1 < 0) { status('draw a box for ' + S.names[label - 1] + ' on this slice first', 'error'); return; }
    const zf = Math.max(0, Math.min(+$('zfrom').value, S.z)), zt = Math.min(info.depth - 1, Math.max(+$('zto').value, S.z));
    const box = [x0, y0, zf, x1 + 1, y1 + 1, zt];
    status('propagating…', 'busy');
    S.busy++;
    try {
      let r = await fetch('api/images/' + info.id + '/segment', { method: 'POST', body: JSON.stringify({ boxes: [box] }),
        headers: { 'Content-Type': 'application/json' } });
      if (!r.ok) { status('propagate: ' + await apiError(r), 'error'); return; }
      S.job = (await r.json()).job;
      let st;
      for (;;) {
        st = await (await fetch('api/jobs/' + S.job)).json();
        $('progress').max = Math.max(st.total, 1); $('progress').value = st.done;
        status('propagating: ' + st.done + ' / ' + st.total + ' slices encoded', 'busy');
        if (st.state !== 'queued' && st.state !== 'running') break;
        await new Promise((res) => setTimeout(res, 150));
      }
      if (st.state !== 'done') { status('propagate: ' + (st.error || st.state), 'error'); return; }
      r = await fetch('api/jobs/' + S.job + '/labels');
      if (!r.ok) { status('propagate: ' + await apiError(r), 'error'); return; }
      const res = new Uint8Array(await r.arrayBuffer()), zs = [];
      for (let z = zf; z <= zt; z++) zs.push(z);
      pushUndo(zs);
      let count = 0;
      for (let p = zf * n; p < (zt + 1) * n; p++) if (res[p]) { S.labels[p] = label; count++; }
      status('propagated ' + S.names[label - 1] + ' through slices ' + zf + '–' + zt + ' (' + count + ' voxels)', 'idle');
      render();
    } catch (e) {
      status('propagate failed: ' + e.message, 'error');
    } finally { S.job = null; S.busy--; }
  }

  // ---- download ------------------------------------------------------------------
  async function download() {
    if (!S.info) return;
    status('preparing the download…', 'busy');
    S.busy++;
    try {
      const r = await fetch('api/images/' + S.info.id + '/labels', { method: 'POST', body: S.labels,
        headers: { 'Content-Type': 'application/octet-stream' } });
      if (!r.ok) { status('download: ' + await apiError(r), 'error'); return; }
      const url = URL.createObjectURL(await r.blob());
      const a = document.createElement('a');
      a.href = url;
      a.download = S.info.kind === 'volume' ? 'labels.nii.gz' : 'labels.png';
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
      status('downloaded ' + a.download, 'idle');
    } catch (e) {
      status('download failed: ' + e.message, 'error');
    } finally { S.busy--; }
  }

  // ---- window / level -------------------------------------------------------------
  function applyPreset(name) {
    if (!S.info) return;
    if (PRESETS[name]) [S.level, S.width] = PRESETS[name];
    else if (name === 'mr' && S.info.kind === 'volume') {
      const v = Array.from(S.slices.get(S.z) || []).filter((x) => x > 0).sort((a, b) => a - b);
      if (v.length) {
        const lo = v[Math.floor(v.length * 0.005)], hi = v[Math.min(v.length - 1, Math.floor(v.length * 0.995))];
        S.level = (lo + hi) / 2; S.width = Math.max(hi - lo, 1e-3);
      }
    } else { S.level = S.info.window.level; S.width = S.info.window.width; }
    render();
  }
  $('preset').addEventListener('change', (e) => applyPreset(e.target.value));
  $('opacity').addEventListener('input', (e) => { S.opacity = e.target.value / 100; render(); });
  $('outline').addEventListener('change', (e) => { S.outline = e.target.checked; render(); });
  $('undo').onclick = undo;
  $('redo').onclick = redo;
  $('clear').onclick = clearSlice;
  $('propagate').onclick = propagate;
  $('download').onclick = download;
  const help = (show) => { $('help').hidden = !show; };
  $('helpbtn').onclick = () => help(true);
  $('help').onclick = () => help(false);

  document.addEventListener('keydown', (e) => {
    if (e.target.tagName === 'INPUT' && e.target.type !== 'range' && e.target.type !== 'checkbox') return;
    const k = e.key;
    if ((e.ctrlKey || e.metaKey) && (k === 'z' || k === 'Z')) { e.preventDefault(); if (e.shiftKey) redo(); else undo(); }
    else if ((e.ctrlKey || e.metaKey) && (k === 'y' || k === 'Y')) { e.preventDefault(); redo(); }
    else if (e.ctrlKey || e.metaKey || e.altKey) return;
    else if (k === '?') help($('help').hidden);
    else if (k === 'Escape') help(false);
    else if (k >= '1' && k <= '9' && +k <= S.names.length) { S.cur = +k; drawLabelList(); }
    else if (k === 'ArrowUp' || k === 'ArrowRight' || k === 'PageDown') { e.preventDefault(); showSlice(S.z + 1); }
    else if (k === 'ArrowDown' || k === 'ArrowLeft' || k === 'PageUp') { e.preventDefault(); showSlice(S.z - 1); }
    else if (k === 'c' || k === 'C') clearSlice();
    else if (k === 'p' || k === 'P') propagate();
    else if (k === 'o' || k === 'O') { S.outline = !S.outline; $('outline').checked = S.outline; render(); }
  });

  // for tests: labelled pixels of a slice (all labels, or one)
  S.count = (z, label) => {
    const n = S.info.width * S.info.height;
    let c = 0;
    for (let p = z * n; p < (z + 1) * n; p++) if (label ? S.labels[p] === label : S.labels[p]) c++;
    return c;
  };
  drawLabelList();
  render();
})();
