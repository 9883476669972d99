import type { NodeAPI } from "node-red";
import { registerReceiverNode } from "./core/receiver-node.js";
import { standard } from "./providers/standard.js";

export = (RED: NodeAPI): void => registerReceiverNode(RED, "standard-webhook", standard);
