#!/usr/bin/env node
// A runner for testing infercast's process client only: it speaks the protocol's
// framing but runs no model. What it does for each request depends on the request's
// "op" (and for some, on MODE, the first argument):
//   hello        answers correctly
//   load         remembers that a model is "loaded"; answers fixed input/output lists
//   time         answers times_ms (needs a load in this process, else ok:false)
//   infer        echoes the inputs back as outputs ("x" → "y")
//   crash        exits with code 3 after writing to stderr
//   hang         never answers
//   hang_child   starts a child that sleeps, then never answers (process group kill)
//   garbage      prints a line that is not JSON
//   two_lines    prints its answer twice
//   wrong_id     answers with another id
//   fail         answers ok:false with a message
//   stderr_flood writes 4 MiB to stderr, then answers
//   big          answers with a 32 MiB string field
//   partial      writes half a line, then hangs
//   exit_quietly exits 0 without answering
// MODE "crash_once FILE": the first time request in any process crashes it (FILE marks it).
'use strict';
const fs = require('fs');
const readline = require('readline');
const {spawn} = require('child_process');

const mode = process.argv[2] || '';
let loaded = false;
const out = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');

const rl = readline.createInterface({input: process.stdin});
rl.on('line', (line) => {
  const req = JSON.parse(line);
  const id = req.id;
  switch (req.op) {
    case 'hello':
      return out({id, ok: true, protocol: 1, runner: 'fake', runtime: 'fake', runtime_version: '0.0.1'});
    case 'load':
      loaded = true;
      return out({id, ok: true, inputs: [{name: 'x', dtype: 'float32', dims: [1, 4]}],
        outputs: [{name: 'y', dtype: 'float32', dims: [1, 4]}], load_ms: 1});
    case 'time':
      if (mode === 'crash_once' && !fs.existsSync(process.argv[3])) {
        fs.writeFileSync(process.argv[3], 'crashed');
        process.stderr.write('fake runner: crashing during time as asked\n');
        process.exit(5);
      }
      if (!loaded) return out({id, ok: false, error: 'no model loaded: send "load" first'});
      return out({id, ok: true, times_ms: Array.from({length: Math.max(req.repeats, 1)}, (_, i) => 2 + (i % 2) * 0.01),
        profile: req.profile ? [{name: 'n0', op: 'Conv', times_ms: [1, 1.5, 2]}, {name: 'n1', op: 'Relu', times_ms: [0.5]}]
                             : undefined});
    case 'infer':
      if (!loaded) return out({id, ok: false, error: 'no model loaded'});
      return out({id, ok: true, outputs: {y: req.inputs.x}});
    case 'crash':
      process.stderr.write('fake runner: something went badly wrong\n');
      process.exit(3);
      break;
    case 'hang':
      return;
    case 'hang_child': {
      const child = spawn('sleep', ['1000'], {stdio: 'ignore'});
      fs.writeFileSync(req.pid_file, String(child.pid));
      return;
    }
    case 'garbage':
      return process.stdout.write('this is not json\n');
    case 'two_lines':
      out({id, ok: true});
      return out({id, ok: true});
    case 'wrong_id':
      return out({id: id + 100, ok: true});
    case 'fail':
      return out({id, ok: false, error: 'the fake cannot do that'});
    case 'stderr_flood':
      process.stderr.write('e'.repeat(4 << 20) + '\n');
      return out({id, ok: true});
    case 'big':
      return out({id, ok: true, blob: 'b'.repeat(32 << 20)});
    case 'partial':
      return process.stdout.write('{"id":' + id + ',"ok":tr');
    case 'exit_quietly':
      return process.exit(0);
    default:
      return out({id, ok: false, error: `unknown op '${req.op}'`});
  }
});
