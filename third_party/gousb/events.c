// lapsebox patch: this file is not in upstream gousb.
//
// libusb's events are handled by a thread of our own, not a goroutine in
// a cgo call, and transfers' completions reach Go through a pipe that
// Go's network poller watches, not through cgo callbacks. The Go runtime
// keeps a processor attached to a thread in a cgo call for up to 10 ms
// after each entry, and its monitor thread polls every 20 µs to 10 ms
// meanwhile: upstream's loop, which returns to Go and enters libusb again
// after every completion, cost an idle camerad some 50 context switches
// per transfer.

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>
#include <libusb.h>

// gousb_notify_fd is the write end of the completions' pipe.
static int gousb_notify_fd = -1;

void gousb_set_notify_fd(int fd) { gousb_notify_fd = fd; }

// gousb_transfer_done is every transfer's callback: it sends the
// transfer's address down the pipe (8 bytes, written atomically).
void gousb_transfer_done(struct libusb_transfer *xfer) {
	uintptr_t p = (uintptr_t)xfer;
	while (write(gousb_notify_fd, &p, sizeof p) < 0 && errno == EINTR) {
	}
}

struct gousb_events {
	libusb_context *ctx;
	int stop;
	pthread_t thread;
};

static void *gousb_event_loop(void *arg) {
	struct gousb_events *e = arg;
	while (!__atomic_load_n(&e->stop, __ATOMIC_ACQUIRE)) {
		// Completions and transfer timeouts end the wait by themselves,
		// and gousb_stop_events interrupts it: nothing needs it to end.
		struct timeval tv = {.tv_sec = 600};
		int r = libusb_handle_events_timeout_completed(e->ctx, &tv, NULL);
		if (r < 0 && r != LIBUSB_ERROR_INTERRUPTED) {
			usleep(10000); // not a busy loop on a persistent error
		}
	}
	return NULL;
}

// gousb_start_events starts handling ctx's events in a thread of its
// own; NULL if the thread cannot be made.
struct gousb_events *gousb_start_events(libusb_context *ctx) {
	struct gousb_events *e = calloc(1, sizeof *e);
	if (e == NULL) {
		return NULL;
	}
	e->ctx = ctx;
	if (pthread_create(&e->thread, NULL, gousb_event_loop, e) != 0) {
		free(e);
		return NULL;
	}
	return e;
}

// gousb_stop_events stops the thread and waits for it. The interrupt
// stays pending until a handler takes it, so it ends a wait the thread
// enters after the flag was set as well as one under way.
void gousb_stop_events(struct gousb_events *e) {
	__atomic_store_n(&e->stop, 1, __ATOMIC_RELEASE);
	libusb_interrupt_event_handler(e->ctx);
	pthread_join(e->thread, NULL);
	free(e);
}
