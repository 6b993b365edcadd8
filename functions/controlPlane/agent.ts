import { register } from './api';
import {
  diskResponse,
  heartbeatResponse,
  ingestCredentialsResponse,
  pageOf,
} from './responseSchemas';
import { authenticateMachine, callingMachine, handler } from '../http/handler';
import { param, parseBody } from '../http/body';
import {
  diskFactsSchema,
  emptyBody,
  heartbeatBody,
  resourceIdSchema,
} from '../../core/controlPlane/schemas';
import { durableClientInput, launcherFor } from './durableLauncher';

// Machine endpoints: anonymous for the host, `Authorization: Bearer hvm.<id>.<secret>` checked here.

export const heartbeat = register(
  {
    name: 'machineHeartbeat',
    method: 'POST',
    route: 'machines/{id}/heartbeat',
    caller: 'machine',
    tag: 'agent',
    summary: 'Agent heartbeat: version and per-disk status',
    body: heartbeatBody,
    response: heartbeatResponse,
    responses: { 200: 'Recorded' },
  },
  handler(async (root, req) => {
    const id = param(req, 'id', resourceIdSchema);
    const machine = await authenticateMachine(root, req, id);
    const body = await parseBody(req, heartbeatBody, root.config.maxBodyBytes);
    const hb = await root.controlPlane.machines.heartbeat(id, body);
    const protection = await root.controlPlane.protection.agentView(id);
    return {
      jsonBody: { receivedAt: hb.at, rotateKey: !!machine.keyRotationRequestedAt, protection },
    };
  }),
);

export const addDisk = register(
  {
    name: 'machineAddDisk',
    method: 'POST',
    route: 'machines/{id}/disks',
    caller: 'machine',
    tag: 'agent',
    summary: 'Register a disk (idempotent for the same facts; a new size starts a resync)',
    body: diskFactsSchema,
    response: diskResponse,
    responses: {
      201: 'Disk added',
      200: 'Disk already registered with these facts, or resized (new generation)',
    },
    extraInputs: [durableClientInput],
  },
  handler(async (root, req, context) => {
    const id = await callingMachine(root, req);
    const body = await parseBody(req, diskFactsSchema, root.config.maxBodyBytes);
    const { disk, created } = await root.controlPlane.resyncs.addDisk(
      id,
      body,
      launcherFor(context),
    );
    return { status: created ? 201 : 200, jsonBody: disk };
  }),
);

export const listDisks = register(
  {
    name: 'machineListDisks',
    method: 'GET',
    route: 'machines/{id}/disks',
    caller: 'machine',
    tag: 'agent',
    summary: "List the machine's disks (generation to send, the cloud's watermark in it)",
    response: pageOf(diskResponse),
    responses: { 200: 'The disks' },
  },
  handler(async (root, req) => {
    const id = await callingMachine(root, req);
    return { jsonBody: { items: await root.controlPlane.resyncs.agentDisks(id) } };
  }),
);

export const ingestToken = register(
  {
    name: 'machineIngestToken',
    method: 'POST',
    route: 'machines/{id}/ingest-token',
    caller: 'machine',
    tag: 'agent',
    summary: 'Short-lived Event Hubs publisher SAS and claim-check blob SAS',
    body: emptyBody,
    response: ingestCredentialsResponse,
    responses: { 200: 'Credentials' },
  },
  handler(async (root, req) => {
    const id = await callingMachine(root, req);
    await parseBody(req, emptyBody, root.config.maxBodyBytes);
    const creds = await root.controlPlane.ingest.issue(id);
    return { headers: { 'cache-control': 'no-store' }, jsonBody: creds };
  }),
);
