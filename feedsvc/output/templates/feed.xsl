<?xml version="1.0" encoding="UTF-8"?>
<!-- feedsvc: shows atom.xml and rss.xml as a readable page when a person opens them in a browser
     (<?xml-stylesheet type="text/xsl" href="feed.xsl"?>). Feed readers ignore it. No script, no
     external assets; item summaries are left out (escaped HTML cannot be shown safely in XSLT 1.0).
     An RFC 5005 archive document (archive/<period>.xml) says so and points to the current feed;
     "Older" and "Newer" follow the archive's prev-archive and next-archive links. -->
<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
    xmlns:atom="http://www.w3.org/2005/Atom" xmlns:dc="http://purl.org/dc/elements/1.1/"
    xmlns:fh="http://purl.org/syndication/history/1.0"
    exclude-result-prefixes="atom dc fh">
  <xsl:output method="html" encoding="UTF-8" indent="yes" doctype-system="about:legacy-compat"/>

  <xsl:template match="/">
    <xsl:variable name="title" select="atom:feed/atom:title | rss/channel/title"/>
    <xsl:variable name="self" select="atom:feed/atom:link[@rel='self']/@href | rss/channel/atom:link[@rel='self']/@href"/>
    <xsl:variable name="home" select="atom:feed/atom:link[@rel='alternate']/@href | rss/channel/link"/>
    <xsl:variable name="links" select="atom:feed/atom:link | rss/channel/atom:link"/>
    <html lang="en">
      <head>
        <meta charset="utf-8"/>
        <meta name="viewport" content="width=device-width, initial-scale=1"/>
        <title><xsl:value-of select="$title"/> (web feed)</title>
        <style>
          :root{color-scheme:light dark;--fg:#1d1d1f;--bg:#fff;--muted:#4d4d52;--link:#0645ad;--rule:#d8d8dc;--note:#fff6d6}
          @media (prefers-color-scheme:dark){:root{--fg:#ececf0;--bg:#121214;--muted:#b4b4bc;--link:#8ab4f8;--rule:#36363c;--note:#2b2715}}
          body{margin:0;font:1.0625rem/1.6 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg);overflow-wrap:anywhere}
          .wrap{max-width:46rem;margin:0 auto;padding:0 1rem}
          a{color:var(--link)}
          .note{background:var(--note);border:1px solid var(--rule);border-radius:8px;padding:.75rem 1rem;margin:1.25rem 0}
          .note code{user-select:all;font-size:.95em}
          h1{font-size:1.8rem;line-height:1.2;margin:1rem 0 .25rem}
          ol{list-style:none;margin:0;padding:0}
          li{border-bottom:1px solid var(--rule);padding:.8rem 0}
          h2{font-size:1.15rem;margin:0 0 .2rem;line-height:1.3}
          .meta{color:var(--muted);font-size:.9rem;margin:0}
        </style>
      </head>
      <body>
        <main class="wrap">
          <xsl:choose>
            <xsl:when test="atom:feed/fh:archive">
              <p class="note"><strong>This is an archive</strong> of a web feed: the articles of one period.
                To subscribe, copy the current feed's address into your reader:
                <code><xsl:value-of select="$links[@rel='current']/@href"/></code>
                <xsl:if test="$home"> · <a href="{$home}">Visit the website</a></xsl:if></p>
            </xsl:when>
            <xsl:otherwise>
              <p class="note"><strong>This is a web feed</strong>, meant for a feed reader. To subscribe,
                copy this address into your reader: <code><xsl:value-of select="$self"/></code>
                <xsl:if test="$home"> · <a href="{$home}">Visit the website</a></xsl:if></p>
            </xsl:otherwise>
          </xsl:choose>
          <h1><xsl:value-of select="$title"/></h1>
          <p class="meta"><xsl:value-of select="atom:feed/atom:subtitle | rss/channel/description"/></p>
          <ol>
            <xsl:apply-templates select="atom:feed/atom:entry | rss/channel/item"/>
          </ol>
          <xsl:if test="$links[@rel='prev-archive' or @rel='next-archive']">
            <p class="meta">
              <xsl:if test="$links[@rel='next-archive']"><a href="{$links[@rel='next-archive']/@href}">Newer articles</a></xsl:if>
              <xsl:if test="$links[@rel='next-archive'] and $links[@rel='prev-archive']"> · </xsl:if>
              <xsl:if test="$links[@rel='prev-archive']"><a href="{$links[@rel='prev-archive']/@href}">Older articles</a></xsl:if>
            </p>
          </xsl:if>
        </main>
      </body>
    </html>
  </xsl:template>

  <xsl:template match="atom:entry">
    <li>
      <h2><xsl:choose>
        <xsl:when test="atom:link[not(@rel) or @rel='alternate']"><a href="{atom:link[not(@rel) or @rel='alternate'][1]/@href}"><xsl:value-of select="atom:title"/></a></xsl:when>
        <xsl:otherwise><xsl:value-of select="atom:title"/></xsl:otherwise>
      </xsl:choose></h2>
      <p class="meta">
        <xsl:value-of select="atom:source/atom:title"/>
        <xsl:if test="atom:source"> · </xsl:if>
        <xsl:for-each select="atom:author/atom:name"><xsl:if test="position() &gt; 1">, </xsl:if><xsl:value-of select="."/></xsl:for-each>
        · <time datetime="{atom:published}"><xsl:value-of select="substring(atom:published, 1, 10)"/></time>
      </p>
    </li>
  </xsl:template>

  <xsl:template match="item">
    <li>
      <h2><xsl:choose>
        <xsl:when test="link"><a href="{link}"><xsl:value-of select="title"/></a></xsl:when>
        <xsl:otherwise><xsl:value-of select="title"/></xsl:otherwise>
      </xsl:choose></h2>
      <p class="meta">
        <xsl:value-of select="source"/>
        <xsl:if test="source"> · </xsl:if>
        <xsl:for-each select="dc:creator | author"><xsl:if test="position() &gt; 1">, </xsl:if><xsl:value-of select="."/></xsl:for-each>
        · <xsl:value-of select="pubDate"/>
      </p>
    </li>
  </xsl:template>
</xsl:stylesheet>
