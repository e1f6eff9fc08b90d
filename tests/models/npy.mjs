// The .npy reader/writer shared by the parity, web and bench scripts: one copy, in the web
// package (web/bin/npy.mjs), which must not import from tests/.
export * from '../../web/bin/npy.mjs';
