import { parentPort, workerData } from 'node:worker_threads';
import { issueCertificate, type CertificateRequest } from '../../common/certificates.js';

// node-forge (about 5 MB resident) lives only as long as this worker thread.
parentPort?.postMessage(await issueCertificate(workerData as CertificateRequest));
