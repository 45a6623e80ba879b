import { LabIcon } from '@jupyterlab/ui-components';

// A small pipeline: three stages joined by arrows. `jp-icon3` lets the theme pick the colour.
const MLOPS_SVG = `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">
  <g class="jp-icon3" fill="#616161">
    <circle cx="5" cy="18" r="3"/>
    <circle cx="12" cy="6" r="3"/>
    <circle cx="19" cy="18" r="3"/>
    <path d="M6.6 15.2 10.3 8.8l1.3.8-3.7 6.4zM13.7 8.8l3.7 6.4-1.3.8-3.7-6.4zM8 17.3h8v1.5H8z"/>
  </g>
</svg>`;

export const mlopsIcon = new LabIcon({
  name: 'jupyter-mlops:mlops',
  svgstr: MLOPS_SVG
});

// Export to pipeline: a notebook page with an arrow into three chained steps.
const PIPELINE_SVG = `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">
  <g class="jp-icon3" fill="#616161">
    <rect x="2" y="3" width="6" height="5" rx="1"/>
    <rect x="9" y="10" width="6" height="5" rx="1"/>
    <rect x="16" y="17" width="6" height="5" rx="1"/>
    <path d="M4.3 8h1.4v4.3H9v1.4H4.3zM11.3 15h1.4v4.3H16v1.4h-4.7z"/>
  </g>
</svg>`;

export const pipelineIcon = new LabIcon({
  name: 'jupyter-mlops:pipeline',
  svgstr: PIPELINE_SVG
});
