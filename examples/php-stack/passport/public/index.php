<?php
// The passport application: answers with its version and the host serving it.
header('Content-Type: text/plain');
$version = trim(file_get_contents(__DIR__ . '/../VERSION'));
echo "passport {$version} on " . gethostname() . ", PHP " . PHP_VERSION . "\n";
