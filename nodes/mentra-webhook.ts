import type { NodeAPI } from "node-red";
import { registerReceiverNode } from "./core/receiver-node.js";
import { mentra } from "./providers/mentra.js";

export = (RED: NodeAPI): void => registerReceiverNode(RED, "mentra-webhook", mentra);
