"""hulian (互联): audit whether platforms block, obstruct or discriminate against links to
other companies' services, judged against China's 2021 MIIT rectification of 屏蔽网址链接."""

__version__ = "0.1.0"
