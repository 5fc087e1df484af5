"""Front end of s2mat: ground segmentation, clustering, dynamic detection, tracking, commonsense."""
