#!/bin/sh
wget -q --spider "http://127.0.0.1:${FB_PORT:-80}/health" || exit 1
