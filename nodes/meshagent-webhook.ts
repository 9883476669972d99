import type { NodeAPI } from "node-red";
import { registerReceiverNode } from "./core/receiver-node.js";
import { meshagent } from "./providers/meshagent.js";

export = (RED: NodeAPI): void => registerReceiverNode(RED, "meshagent-webhook", meshagent);
