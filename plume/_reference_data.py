"""Reference tables shipped with plume, copied verbatim from OneMap's shared facts.

* ``TOXIC_THRESHOLDS_CSV`` — ``reference/toxic_thresholds.csv``: MW, AEGL-1/2/3
  (60 min), ERPG-1/2/3 and IDLH in ppm (25 °C, 1 atm), with source codes
  explained in ``reference/toxic_thresholds_sources.md``. Blank = not
  confirmed by a source (not "no value exists").
* ``PROBITS_CSV`` — ``reference/probits.csv``: lethality probit constants
  with their units and verification status. Only rows whose status starts
  with ``VERIFIED`` are used by :mod:`plume.dose`.

Kept as text (not a data file) so that the package works however it is
installed; do not edit by hand — re-copy from the reference folder.
"""

__all__ = ["TOXIC_THRESHOLDS_CSV", "PROBITS_CSV"]

TOXIC_THRESHOLDS_CSV = """\
name_en,name_zh,cas,mw_g_mol,aegl1_60min_ppm,aegl2_60min_ppm,aegl3_60min_ppm,erpg1_ppm,erpg2_ppm,erpg3_ppm,idlh_ppm,source
chlorine,氯,7782-50-5,70.90,0.50,2.0,20,1,3,20,10,AEGL:[E09]+[W-AEGL]; ERPG:[A09]+[CI]; IDLH:[N94]
ammonia,氨,7664-41-7,17.03,30,160,1100,25,150,750,300,AEGL:[E09]; ERPG:[A09] (ERPG-3 may since have been revised - UNVERIFIED); IDLH:[N94 via NC-DOL/MDA]
hydrogen sulfide,硫化氢,7783-06-4,34.08,0.51,27,50,0.1,30,100,100,AEGL:[P17]; ERPG:[A09]+[P17]; IDLH:[P17]+[N94]
hydrogen chloride,氯化氢,7647-01-0,36.46,1.8,22,100,3,20,150,45,AEGL:[E09]; ERPG:[A09]; IDLH:[N25] 45 ppm (2025 NIOSH value profile; was 50 ppm in [N94])
hydrogen fluoride,氟化氢,7664-39-3,20.01,1.0,24,44,2,20,50,30,AEGL:[E09]; ERPG:[A09]+[P18-HF] (ERPG-2); IDLH:[N94]+[OSHA-CSI]
sulfur dioxide,二氧化硫,7446-09-5,64.06,0.20,0.75,,0.3,3,15,100,AEGL-1/2:[NAP-V8] (same value all durations); AEGL-3 not found (blank); ERPG:[A09] (SO2 was under AIHA review in 2009 - re-check); IDLH:[N94]
phosgene,光气(碳酰氯),75-44-5,98.91,,0.30,0.75,,0.5,1.5,2,AEGL:[E09] (AEGL-1 NR); ERPG:[A09] (ERPG-1 not appropriate); IDLH:[N94]
hydrogen cyanide,氰化氢,74-90-8,27.03,2.0,7.1,15,,10,25,50,AEGL:[E09]+[NAP-V2]; ERPG:[A09] (ERPG-1 not appropriate); IDLH:[NAP-SMAC citing NIOSH 2005]
carbon monoxide,一氧化碳,630-08-0,28.01,,,,200,350,500,1200,AEGL not found (blank); ERPG:[A09] (CO was under review in 2009); IDLH: secondary [VT-EHS] (NIOSH revised IDLH 1200; original 1500 in [N94])
nitrogen dioxide,二氧化氮,10102-44-0,46.01,,,,1,15,30,13,AEGL not found (blank); ERPG:[A09]; IDLH:[N17-NO2] 13 ppm (2017 profile; 20 ppm in [N94])
benzene,苯,71-43-2,78.11,,,,50,150,1000,500,AEGL not found (blank); ERPG:[A09] (benzene under review in 2009); IDLH:[N94] (carcinogen; NIOSH 'Ca')
methanol,甲醇,67-56-1,32.04,,,,200,1000,5000,,AEGL not found; ERPG:[A09]; IDLH not confirmed (blank)
acrylonitrile,丙烯腈,107-13-1,53.06,,,,10,35,75,,AEGL not found (final AEGLs published NRC Vol 17 2014); ERPG:[A09]; IDLH: NIOSH issued a new value profile 2017 - value not confirmed (blank)
formaldehyde,甲醛,50-00-0,30.03,0.90,,,1,10,25,,AEGL-1:[P11-HCHO] (EPA 2004 AEGL-1 0.9 ppm); AEGL-2/3 not found; ERPG:[A09]; IDLH not confirmed
ethylene oxide,环氧乙烷,75-21-8,44.05,,,,,50,500,,AEGL not found; ERPG:[A09] (ERPG-1 not appropriate); IDLH not confirmed
vinyl chloride,氯乙烯,75-01-4,62.50,,,,500,5000,20000,,AEGL not found; ERPG:[A09]; IDLH not confirmed
toluene,甲苯,108-88-3,92.14,,,,50,300,1000,,AEGL not found; ERPG:[A09] (toluene under review in 2009); IDLH not confirmed
styrene,苯乙烯,100-42-5,104.15,,,,50,250,1000,,AEGL not found; ERPG:[A09]; IDLH not confirmed
bromine,溴,7726-95-6,159.81,,,,0.1,0.5,5,,AEGL not found; ERPG:[A09]; IDLH not confirmed (original SCP IDLH 10 ppm in [N94]; revised value not seen)
hydrazine,肼(联氨),302-01-2,32.05,,,,0.5,5,30,,AEGL not found; ERPG:[A09]; IDLH not confirmed
methyl isocyanate,异氰酸甲酯,624-83-9,57.05,,0.067,0.20,0.025,0.25,1.5,0.12,AEGL:[E09] (AEGL-1 NR); ERPG:[A09]; IDLH:[N16-MIC] 0.12 ppm (NIOSH 2017-105; was 3 ppm in [N94])
carbon disulfide,二硫化碳,75-15-0,76.13,13,160,480,1,50,500,,AEGL:[E09]; ERPG:[A09]; IDLH not confirmed
acrolein,丙烯醛,107-02-8,56.06,,,,0.05,0.15,1.5,2,AEGL not found; ERPG:[A09]; IDLH:[OSHA-CSI]
arsine,砷化氢(胂),7784-42-1,77.95,,0.17,0.50,,0.5,1.5,,AEGL:[E09] (AEGL-1 NR); ERPG:[A09] (ERPG-1 not appropriate); IDLH not confirmed
"""

PROBITS_CSV = """\
chemical,cas,form,a,b,n,conc_unit,time_unit,status,source,notes
chlorine,7782-50-5,Pr = a + b*ln(sum C^n*t),-8.29,0.92,2,ppm,min,VERIFIED-PRIMARY,"Withers R.M.J. & Lees F.P. (1985) The assessment of major hazards: the lethal toxicity of chlorine. Part 2, model of toxicity to man. J. Hazard. Mater. 12:283-302 (abstract: 'Y = -8.29 + 0.92 ln L* with L* = sum C^2 T, C ppm, T min'; regular population, standard activity)",seen at paperexplained.cn (abstract text); same constants also in a public test fixture (GitHub id 69313985551) labelled LEES_CL
chlorine,7782-50-5,Pr = a + b*ln(C^n*t),-6.35,0.5,2.75,mg/m3,min,VERIFIED-SECONDARY,"TNO Purple Book (CPR 18E) probit table, as quoted in public test fixtures (GitHub ids 69313985551 'PB_CL' and 68681171506 'PB chlorine probit')",original table not opened; note mg/m3 not ppm (1 ppm Cl2 = 2.90 mg/m3 at 25 C)
ammonia,7664-41-7,Pr = a + b*ln(C^n*t),-15.6,1,2,mg/m3,min,VERIFIED-SECONDARY,"TNO Purple Book (CPR 18E) Table 5.2, as quoted in public test fixture GitHub id 69313985551 ('PB Table 5.2 ammonia is in mg/m3')",original table not opened
ammonia,7664-41-7,Pr = a + b*ln(C^n*t),-35.9,1.85,2,ppm,min,VERIFIED-SECONDARY,"Lees / CCPS-style ammonia probit as quoted in GitHub id 69313985551 ('Lees ammonia, ppm and minutes')",widely reproduced in Crowl & Louvar Table 2-5 (not opened); treat as secondary
hydrogen sulfide,7783-06-4,Pr = a + b*ln(C^n*t),,,,,,UNVERIFIED,,candidates from memory (do not use): Purple Book mg/m3-min a=-11.5 b=1 n=1.9; CCPS ppm-min a=-31.42 b=3.008 n=1.43
hydrogen chloride,7647-01-0,Pr = a + b*ln(C^n*t),,,,,,UNVERIFIED,,candidates from memory: Purple Book mg/m3-min a=-37.3 b=3.69 n=1; CCPS ppm-min a=-16.85 b=2.00 n=1. RIVM/Flanders HCl probit is disputed (baboon study) per Chem. Eng. Trans. CET1977005
hydrogen fluoride,7664-39-3,Pr = a + b*ln(C^n*t),,,,,,UNVERIFIED,,candidates from memory: Purple Book mg/m3-min a=-8.4 b=1 n=1.5; CCPS ppm-min a=-35.87 b=3.354 n=1
sulfur dioxide,7446-09-5,Pr = a + b*ln(C^n*t),,,,,,UNVERIFIED,,candidates from memory: Purple Book mg/m3-min a=-19.2 b=1 n=2.4; CCPS ppm-min a=-15.67 b=2.10 n=1
phosgene,75-44-5,Pr = a + b*ln(C^n*t),,,,,,UNVERIFIED,,candidates from memory: Purple Book mg/m3-min a=-10.6 b=2 n=1; CCPS ppm-min a=-19.27 b=3.686 n=1
hydrogen cyanide,74-90-8,Pr = a + b*ln(C^n*t),,,,,,UNVERIFIED,,candidates from memory: Purple Book mg/m3-min a=-9.8 b=1 n=2.4; CCPS ppm-min a=-29.42 b=3.008 n=1.43
carbon monoxide,630-08-0,Pr = a + b*ln(C^n*t),,,,,,UNVERIFIED,,candidates from memory: Purple Book mg/m3-min a=-7.4 b=1 n=1; CCPS ppm-min a=-37.98 b=3.7 n=1
acrylonitrile,107-13-1,Pr = a + b*ln(C^n*t),,,,,,UNVERIFIED,,candidates from memory: Purple Book mg/m3-min a=-8.6 b=1 n=1.3; CCPS ppm-min a=-29.42 b=3.008 n=1.43 (same as HCN)
"""
