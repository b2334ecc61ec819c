package uploadtest

import "github.com/lapsebox/lapsebox/internal/testtool"

// NginxDAVConf returns a configuration for one nginx process in the
// foreground, listening on addr, that serves dir/www/dav/ over WebDAV
// (PUT, MKCOL, MOVE, PROPFIND…) with basic authentication from
// dir/htpasswd. Everything it writes stays under dir: its pid in
// dir/run, request bodies in dir/body, errors in dir/error.log. Start it
// with `nginx -p dir -c CONF -e dir/error.log`.
func NginxDAVConf(dir, addr string) string {
	d := dir
	return `daemon off;
master_process off;
user root;
worker_processes 1;
pid ` + d + `/run/nginx.pid;
error_log ` + d + `/error.log warn;
load_module ` + testtool.NginxDAV + `;
events { worker_connections 128; }
http {
	access_log off;
	client_body_temp_path ` + d + `/body;
	proxy_temp_path ` + d + `/run/proxy;
	fastcgi_temp_path ` + d + `/run/fastcgi;
	uwsgi_temp_path ` + d + `/run/uwsgi;
	scgi_temp_path ` + d + `/run/scgi;
	client_max_body_size 0;
	server {
		listen ` + addr + `;
		root ` + d + `/www;
		location /dav/ {
			dav_methods PUT DELETE MKCOL COPY MOVE;
			dav_ext_methods PROPFIND OPTIONS;
			dav_access user:rw group:r all:r;
			auth_basic "lapsebox";
			auth_basic_user_file ` + d + `/htpasswd;
		}
	}
}
`
}
