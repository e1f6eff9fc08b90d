// The little of Node's globals the package touches (only after checking it runs in Node); the
// package has no dependency on @types/node.
declare const process: {
  versions: Record<string, string | undefined>;
  env: Record<string, string | undefined>;
  pid: number;
};
