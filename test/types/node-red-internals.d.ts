// The parts of Node-RED's own modules the tests reach into, which ship no types.
declare module "@node-red/runtime/lib/nodes/Node" {
    import type { NodeStatus } from "node-red";
    class RuntimeNode {
        id: string;
        status(status: NodeStatus | string): void;
    }
    export = RuntimeNode;
}

declare module "@node-red/nodes/core/sequence/17-split.js" {
    import type { NodeAPI } from "node-red";
    const register: (RED: NodeAPI) => void;
    export = register;
}

declare module "@node-red/nodes/core/function/15-change.js" {
    import type { NodeAPI } from "node-red";
    const register: (RED: NodeAPI) => void;
    export = register;
}
