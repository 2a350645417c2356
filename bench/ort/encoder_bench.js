// encoder_bench.js — ONNX Runtime (npm onnxruntime-node, CPU execution provider) as a peer
// for the LiteMedSAM TinyViT encoder in `make bench` (bench/lite.sh).
//
//   node bench/ort/encoder_bench.js DIR [--threads 1,2] [--reps 5] [--results FILE]
//
// DIR is tools/ref/make_lite_bench.py's output: encoder.onnx (torch.onnx.export of the official
// image_encoder), input.f32 (1,3,256,256) and embedding.f32 (the official output, to check ORT's).
// Per thread count: a session with intraOpNumThreads = n, interOpNumThreads = 1, sequential
// execution, graph optimisation "all"; session creation is timed once, then one warm-up run and
// the median of `reps` runs of session.run.
'use strict';
const fs = require('fs');
const path = require('path');
const ort = require('onnxruntime-node');

function median(a) {
    const s = [...a].sort((x, y) => x - y);
    return s.length % 2 ? s[(s.length - 1) / 2] : 0.5 * (s[s.length / 2 - 1] + s[s.length / 2]);
}

function readF32(file) {
    const b = fs.readFileSync(file);
    return new Float32Array(b.buffer, b.byteOffset, b.length / 4);
}

async function main() {
    const args = process.argv.slice(2);
    const dir = args[0];
    let threads = '1,2', reps = 5, results = null;
    for (let i = 1; i + 1 < args.length; i += 2) {
        if (args[i] === '--threads') threads = args[i + 1];
        else if (args[i] === '--reps') reps = Math.max(1, parseInt(args[i + 1], 10));
        else if (args[i] === '--results') results = args[i + 1];
    }
    if (!dir) {
        console.error('usage: node encoder_bench.js DIR [--threads 1,2] [--reps 5] [--results FILE]');
        process.exit(2);
    }
    const input = new ort.Tensor('float32', readF32(path.join(dir, 'input.f32')), [1, 3, 256, 256]);
    const ref = readF32(path.join(dir, 'embedding.f32'));
    const lines = [];
    console.log(`onnxruntime-node ${require('onnxruntime-node/package.json').version}, CPU execution provider`);
    for (const n of threads.split(',').map(Number)) {
        const t0 = process.hrtime.bigint();
        const session = await ort.InferenceSession.create(path.join(dir, 'encoder.onnx'), {
            executionProviders: ['cpu'], intraOpNumThreads: n, interOpNumThreads: 1,
            executionMode: 'sequential', graphOptimizationLevel: 'all',
        });
        const create = Number(process.hrtime.bigint() - t0) * 1e-9;
        let out = await session.run({ image: input });  // warm-up
        const t = [];
        for (let r = 0; r < reps; r++) {
            const s = process.hrtime.bigint();
            out = await session.run({ image: input });
            t.push(Number(process.hrtime.bigint() - s) * 1e-9);
        }
        const emb = out.embedding.data;
        let num = 0, den = 0;
        for (let i = 0; i < ref.length; i++) num += (emb[i] - ref[i]) ** 2, den += ref[i] ** 2;
        const rel = Math.sqrt(num / den), med = median(t);
        console.log(`  ${n} thread(s): encoder ${med.toFixed(3)} s (median of ${reps}; session creation ` +
                    `${create.toFixed(2)} s); embedding vs the official PyTorch one: relative L2 ${rel.toExponential(1)}`);
        lines.push(`lite_encoder_s_${n} ${med.toFixed(4)}`, `lite_ort_relerr_${n} ${rel.toExponential(2)}`);
        await session.release();
    }
    if (results) fs.writeFileSync(results, lines.join('\n') + '\n');
}

main().catch((e) => { console.error(`encoder_bench.js: ${e.message}`); process.exit(1); });
