// Package `main`: every module that registers functions is imported here, so the same build
// deploys to Azure Functions unchanged and the local host loads exactly this file.
import './controlPlane';
import './replication';
import './recovery';
import './failback';
import './plans';
import './alerts';
import '../orchestrations';
