// Starts Platformatic DB (the benchmark's peer) in PLT_BENCH_WORKERS processes sharing one port through
// node:cluster, as gunicorn's workers share the service's port. Each worker is what `platformatic db start`
// runs (@platformatic/db's buildServer on the same configuration file); nothing else is added.
import cluster from 'node:cluster'
import { createRequire } from 'node:module'
import { join } from 'node:path'

const workers = Number(process.env.PLT_BENCH_WORKERS || 1)
const prefix = process.env.PLT_BENCH_PREFIX // where `npm install @platformatic/db` put node_modules
const config = process.env.PLT_BENCH_CONFIG

if (cluster.isPrimary) {
  let listening = 0
  cluster.on('listening', () => {
    if (++listening === workers) console.log(`platformatic: all ${workers} workers listening`)
  })
  for (let i = 0; i < workers; i++) cluster.fork()
  cluster.on('exit', (worker, code) => {
    console.error(`platformatic worker ${worker.process.pid} exited with ${code}`)
    process.exit(1)
  })
  for (const signal of ['SIGTERM', 'SIGINT']) {
    process.on(signal, () => {
      cluster.removeAllListeners('exit')
      for (const worker of Object.values(cluster.workers)) worker.kill()
      process.exit(0)
    })
  }
} else {
  const { buildServer } = createRequire(join(prefix, 'package.json'))('@platformatic/db')
  const app = await buildServer(config)
  await app.start()
}
