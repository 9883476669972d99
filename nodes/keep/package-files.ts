/**
 * Where this package keeps its files in a Node-RED user directory: one place names them all
 * (the stores on disk, the instance's name, the key made for a shared-state node without one).
 */
import { chmodSync, mkdirSync } from "node:fs";
import { join } from "node:path";

/** The package's files in user directory `userDir`. Nothing is created. */
export function packageFiles(userDir: string) {
    const folder = join(userDir, "verified-webhooks");
    return {
        folder,
        /** LMDB: the deliveries kept until handled. */
        deliveries: join(folder, "deliveries"),
        /** LMDB: the identities each endpoint committed, for de-duplication across restarts. */
        identities: join(folder, "identities"),
        /** This user directory's instance name, as a shared-state node tells instances apart. */
        instance: join(folder, "instance"),
        /** The key made for this user directory when a shared-state node has no Entry key. */
        entryKey: join(folder, "entry-key"),
    } as const;
}

/** Creates directory `path`, or makes an existing one (an earlier version's, with the umask's mode), readable by this user only. */
export function privateDirectory(path: string): string {
    mkdirSync(path, { recursive: true, mode: 0o700 });
    chmodSync(path, 0o700);
    return path;
}

/** The package's files, its folder made first, readable by this user only: its stores hold payloads and identities. */
export function privatePackageFiles(userDir: string): ReturnType<typeof packageFiles> {
    const files = packageFiles(userDir);
    privateDirectory(files.folder);
    return files;
}
