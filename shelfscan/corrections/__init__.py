"""Human review: corrections of scan verdicts, report versions, the recogniser's gallery of
confirmed crops, field accuracy and the review queue."""
