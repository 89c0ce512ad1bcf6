/* report_page.h -- the report's page template (writers/report/), made
 * into C strings at build time by cmake/embed.cmake (report_page.c in the
 * build tree).  report.html holds the markers where report_html.c puts the
 * CSS, the data and the script. */
#ifndef HG_REPORT_PAGE_H
#define HG_REPORT_PAGE_H

extern const char hg_report_html[];
extern const char hg_report_css[];
extern const char hg_report_js[];

#endif
