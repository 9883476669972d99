import type { NodeAPI } from "node-red";
import { registerReceiverNode } from "./core/receiver-node.js";
import { synthesis } from "./providers/synthesis.js";

export = (RED: NodeAPI): void => registerReceiverNode(RED, "synthesis-webhook", synthesis);
