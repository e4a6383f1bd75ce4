import { resolve } from 'node:path';
import { defineConfig } from 'vite';

// The playground imports adopt-optim (and adopt-lab/toy) as an application would: through the packages' exports,
// built into each package's dist by `npm run build` at the root.
export default defineConfig({
  root: __dirname,
  base: './',
  build: {
    outDir: resolve(__dirname, 'dist'),
    emptyOutDir: true,
    target: 'es2022',
    rollupOptions: {
      input: {
        main: resolve(__dirname, 'index.html'),
        checks: resolve(__dirname, 'checks.html'),
        gpu: resolve(__dirname, 'gpu.html'),
        bench: resolve(__dirname, 'bench.html'),
      },
    },
  },
  worker: { format: 'es' },
  preview: { port: 4173, strictPort: false },
});
