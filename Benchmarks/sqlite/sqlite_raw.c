// Raw SQLite C API baseline for `scripts/bench-cache.sh`: the same file layout and pragmas as
// evalengine's Store (rowid table + unique key index, 8 KiB pages, WAL, synchronous=NORMAL, mmap),
// 32-byte keys and 1 KiB values; batched inserts (1,000 rows per transaction), then random hits.
// cc -O2 -o sqlite_raw sqlite_raw.c -lsqlite3 && ./sqlite_raw FILE ROWS LOOKUPS
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }
static void key_for(unsigned long i, unsigned char *k) { for (int j = 0; j < 32; j++) { i = i * 6364136223846793005UL + 1442695040888963407UL; k[j] = (unsigned char)(i >> 56); } }

int main(int argc, char **argv) {
    if (argc < 4) { fprintf(stderr, "usage: %s FILE ROWS LOOKUPS\n", argv[0]); return 64; }
    long rows = atol(argv[2]), lookups = atol(argv[3]);
    sqlite3 *db; sqlite3_open(argv[1], &db);
    sqlite3_exec(db, "PRAGMA page_size=8192; PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA mmap_size=268435456; PRAGMA cache_size=-32768;"
                     "CREATE TABLE IF NOT EXISTS responses(id INTEGER PRIMARY KEY, key BLOB NOT NULL, value BLOB NOT NULL, checksum INTEGER NOT NULL, created_at INTEGER NOT NULL);"
                     "CREATE UNIQUE INDEX IF NOT EXISTS responses_key ON responses(key);", 0, 0, 0);
    sqlite3_stmt *ins, *sel;
    sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO responses(key, value, checksum, created_at) VALUES (?1, ?2, ?3, ?4)", -1, &ins, 0);
    sqlite3_prepare_v2(db, "SELECT value, checksum, created_at FROM responses WHERE key = ?1", -1, &sel, 0);
    unsigned char key[32], value[1024]; memset(value, 'x', sizeof value);
    double t0 = now();
    for (long i = 0; i < rows; i++) {
        if (i % 1000 == 0) sqlite3_exec(db, "BEGIN IMMEDIATE", 0, 0, 0);
        key_for(i, key);
        sqlite3_bind_blob(ins, 1, key, 32, SQLITE_TRANSIENT); sqlite3_bind_blob(ins, 2, value, 1024, SQLITE_TRANSIENT);
        sqlite3_bind_int64(ins, 3, 42); sqlite3_bind_int64(ins, 4, 1700000000);
        sqlite3_step(ins); sqlite3_reset(ins);
        if (i % 1000 == 999 || i == rows - 1) sqlite3_exec(db, "COMMIT", 0, 0, 0);
    }
    double t1 = now();
    unsigned long seed = 12345; long found = 0; long total_bytes = 0;
    for (long i = 0; i < lookups; i++) {
        seed = seed * 6364136223846793005UL + 1; key_for((seed >> 33) % rows, key);
        sqlite3_bind_blob(sel, 1, key, 32, SQLITE_TRANSIENT);
        if (sqlite3_step(sel) == SQLITE_ROW) { found++; total_bytes += sqlite3_column_bytes(sel, 0); }
        sqlite3_reset(sel);
    }
    double t2 = now();
    printf("raw C: inserts %.0f rows/s (batches of 1000), lookups %.0f hits/s (%ld of %ld found, %ld bytes)\n",
           rows / (t1 - t0), lookups / (t2 - t1), found, lookups, total_bytes);
    sqlite3_finalize(ins); sqlite3_finalize(sel); sqlite3_close(db);
    return 0;
}
