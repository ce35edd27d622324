"""Questions over many reports: sweep, fit, check files and their metrics, explain and its
lessons, sameness of two models, layer alignment. Data only: rendering is render/."""
