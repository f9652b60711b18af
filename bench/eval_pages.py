"""The cleaner's own evaluation set: synthetic news pages in the layouts of distinct kinds of real portals.

Every page is written here (invented text, never copied articles) as data: its gold paragraphs, the boilerplate
lines that must not survive cleaning (each in a family), and the AI/TDM notices the permission scan must find
(some pages have none; some quote a notice in reported speech, which must stay article text). :func:`render`
lays a page out like a kind of portal: navigation, sidebars, promos, embeds, interstitials and footers.

``bench/extraction_quality.py`` scores the cleaner on these pages (:func:`evaluate`); tests/test_eval_pages.py
runs the same checks (without timing). Targets per page: F1 >= 0.98, no boilerplate line survives, no gold
paragraph is lost, every notice is found and none is found on a page without one.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Boilerplate:
    family: str  # related | promo | embed | credits | rights
    text: str  # as a reader sees it; must not appear in the clean text
    link: str = ""  # for a label: the text of the link after it (also must not survive)
    after: int = -1  # in the article body after this gold paragraph (-1: after the last one)
    suffix: bool = False  # appended to that paragraph (inline, after its last sentence) instead of its own block


@dataclass(frozen=True)
class EvalPage:
    name: str
    language: str
    layout: str
    title: str
    gold: tuple[str, ...]
    boilerplate: tuple[Boilerplate, ...] = ()
    footer: tuple[str, ...] = ()  # page footer lines (rights lines, notices): outside the article
    notices: tuple[str, ...] = ()  # sentences that are AI/TDM reservations (kind ai-reservation), anywhere
    dateline: str = ""  # prefix of the first paragraph that is part of the gold text

    @property
    def must_not_survive(self) -> list[tuple[str, str]]:
        """(family, text) of every line that must be gone from the clean text."""
        lines = [(b.family, b.text) for b in self.boilerplate]
        lines += [(b.family, b.link) for b in self.boilerplate if b.link]
        return lines + [("rights", line) for line in self.footer]


B = Boilerplate

PAGES: tuple[EvalPage, ...] = (
    EvalPage(
        name="id-detail-video",
        language="id",
        layout="detail",
        title="Warga Pesisir Tanam Mangrove untuk Tahan Abrasi",
        gold=(
            "Jakarta - Ratusan warga di pesisir utara menanam sekitar dua ribu bibit mangrove pada Sabtu pagi untuk"
            " menahan abrasi yang terus menggerus pematang tambak mereka.",
            "Ketua kelompok tani tambak setempat mengatakan garis pantai mundur hampir lima meter dalam tiga tahun"
            " terakhir, sehingga beberapa petak tambak terpaksa ditinggalkan.",
            "Bibit yang ditanam berasal dari persemaian warga sendiri dan dirawat oleh siswa sekolah menengah yang"
            " bergiliran menyiram serta mencatat pertumbuhan setiap minggu.",
            "Dinas lingkungan hidup berjanji menyediakan pagar bambu pemecah ombak agar bibit muda tidak tercabut"
            " saat gelombang tinggi datang pada musim angin barat.",
            "Warga berharap hutan mangrove kecil itu kelak juga menjadi tempat ikan dan kepiting berkembang biak,"
            " sehingga hasil tangkapan nelayan ikut membaik.",
        ),
        boilerplate=(
            B("related", "Baca juga:", "Harga udang vaname naik menjelang akhir tahun", after=0),
            B("embed", "[Gambas:Video 20detik]", after=1),
            B("embed", "ADVERTISEMENT", after=2),
            B("embed", "SCROLL TO CONTINUE WITH CONTENT", after=2),
            B("related", 'Simak Video "Menanam Mangrove Bersama Nelayan Muara"', after=4),
            B("credits", "(wnv/idn)", after=4, suffix=True),
        ),
        footer=("Copyright @ 2026 Portal Berita Nusa. All rights reserved.",),
    ),
    EvalPage(
        name="id-read-content-br",
        language="id",
        layout="br",
        title="Kereta Pagi Tambah Gerbong untuk Pekerja Komuter",
        gold=(
            "Bandung - Operator kereta komuter menambah dua gerbong pada perjalanan pagi mulai pekan depan karena"
            " penumpang di jam sibuk terus bertambah sejak awal bulan.",
            "Menurut catatan operator, kepadatan tertinggi terjadi antara pukul enam dan tujuh pagi ketika pekerja"
            " pabrik dan pegawai kantor berangkat bersamaan.",
            "Penumpang menyambut baik tambahan itu, tetapi meminta jadwal keberangkatan diumumkan lebih awal"
            " melalui papan informasi di setiap stasiun.",
            "Operator juga akan menguji sistem antrean baru di dua stasiun besar agar penumpang tidak menumpuk di"
            " peron saat kereta terlambat.",
        ),
        boilerplate=(
            B("related", "Lihat Juga :", "Tarif angkot naik, warga beralih ke sepeda", after=0),
            B("related", "Pilihan Editor:", "Stasiun lama dipugar jadi ruang baca publik", after=1),
            B(
                "promo",
                "Simak breaking news dan berita pilihan kami langsung di ponselmu. Pilih saluran andalanmu akses"
                " berita lewat WhatsApp Channel : https://wa.example/channel/berita",
                after=3,
            ),
            B("promo", "Baca berita dengan sedikit iklan, klik di sini", after=3),
            B("credits", "(tim/dal)", after=3, suffix=True),
        ),
    ),
    EvalPage(
        name="id-agency-notice",
        language="id",
        layout="agency",
        title="Nelayan Diminta Waspadai Gelombang Tinggi",
        dateline="Makassar (KABAR) - ",
        gold=(
            "Makassar (KABAR) - Badan cuaca meminta nelayan di selat bagian selatan menunda pelayaran selama tiga"
            " hari karena gelombang diperkirakan mencapai empat meter.",
            "Peringatan itu dikeluarkan setelah angin kencang terpantau bergerak dari arah barat daya dan diperkirakan"
            " bertahan hingga akhir pekan.",
            "Petugas pelabuhan perikanan mengatakan sebagian besar kapal kecil sudah ditambatkan sejak Kamis malam"
            " dan hasil tangkapan dijual lebih cepat dari biasanya.",
            "Pemerintah kabupaten menyiapkan bantuan beras bagi keluarga nelayan yang tidak melaut selama cuaca"
            " buruk berlangsung.",
        ),
        boilerplate=(
            B("credits", "Pewarta : Andi Rahmat", after=3),
            B("credits", "Editor: Sri Wahyuni", after=3),
            B("rights", "COPYRIGHT © KABAR 2026", after=3),
        ),
        footer=(
            "Dilarang keras mengambil konten, melakukan crawling atau pengindeksan otomatis untuk AI di situs web ini"
            " tanpa izin tertulis dari Kantor Berita Kabar.",
        ),
        notices=(
            "Dilarang keras mengambil konten, melakukan crawling atau pengindeksan otomatis untuk AI di situs web ini"
            " tanpa izin tertulis dari Kantor Berita Kabar.",
        ),
    ),
    EvalPage(
        name="id-magazine-contrib",
        language="id",
        layout="magazine",
        title="Perpustakaan Desa Buka Hingga Malam",
        gold=(
            "Sebuah perpustakaan desa di lereng gunung kini buka hingga pukul sembilan malam agar anak-anak petani"
            " bisa belajar setelah membantu orang tua di ladang.",
            "Pengelola perpustakaan mengatakan jumlah pengunjung naik dua kali lipat sejak jam buka diperpanjang,"
            " terutama menjelang ujian sekolah.",
            "Semua penerbit buku anak di provinsi itu kini menyatakan karya mereka tidak boleh dipakai untuk melatih"
            " AI tanpa izin, ujar ketua ikatan penerbit saat berkunjung.",
            "Relawan mahasiswa bergantian mengajar membaca dan berhitung setiap Selasa dan Jumat, sementara warga"
            " menyumbang lampu dan meja belajar.",
        ),
        boilerplate=(
            B("related", "Baca Juga:", "Sekolah di pegunungan kekurangan guru matematika", after=0),
            B("credits", "Nadia Putri berkontribusi dalam penulisan artikel ini.", after=3),
            B("promo", "Ikuti berita terkini dari kami di Google News, klik di sini.", after=3),
        ),
        footer=("Semua hak dilindungi.",),
    ),
    EvalPage(
        name="ms-agency-signoff",
        language="ms",
        layout="agency",
        title="Jambatan Baharu Dibuka kepada Penduduk Kampung",
        dateline="KUALA TERENGGANU, 1 Dis -- ",
        gold=(
            "KUALA TERENGGANU, 1 Dis -- Sebuah jambatan baharu yang menghubungkan tiga kampung di tebing sungai"
            " dibuka kepada orang ramai hari ini selepas dua tahun pembinaan.",
            "Ketua kampung berkata penduduk sebelum ini terpaksa menaiki bot kecil untuk ke sekolah dan klinik,"
            " terutama ketika air sungai naik pada musim tengkujuh.",
            "Jambatan sepanjang lapan puluh meter itu turut dilengkapi laluan pejalan kaki dan lampu jalan yang"
            " dikuasakan oleh panel solar.",
            "Pihak majlis daerah akan memantau keadaan struktur itu setiap enam bulan bagi memastikan ia selamat"
            " digunakan oleh kenderaan ringan.",
        ),
        boilerplate=(
            B("related", "BACA JUGA:", "Banjir kilat di pantai timur, tiga jalan ditutup", after=0),
            B("credits", "-- BERNAMA", after=3),
            B("promo", "Ikuti kami di saluran rasmi WhatsApp untuk berita terkini.", after=3),
        ),
        footer=(
            "Hak Cipta Terpelihara © 2026 Pertubuhan Berita Semenanjung.",
            "Sebarang penerbitan semula, penyalinan atau penggunaan kandungan berita ini, termasuk untuk melatih"
            " sistem kecerdasan buatan (AI), tanpa kebenaran bertulis daripada pertubuhan ini adalah dilarang.",
        ),
        notices=(
            "Sebarang penerbitan semula, penyalinan atau penggunaan kandungan berita ini, termasuk untuk melatih"
            " sistem kecerdasan buatan (AI), tanpa kebenaran bertulis daripada pertubuhan ini adalah dilarang.",
        ),
    ),
    EvalPage(
        name="ms-portal-newsletter",
        language="ms",
        layout="detail",
        title="Pasar Tani Dipindahkan ke Dataran Bandar",
        gold=(
            "Pasar tani mingguan di pusat bandar akan dipindahkan ke dataran utama mulai bulan depan bagi memberi"
            " lebih banyak ruang kepada peniaga dan pengunjung.",
            "Menurut majlis perbandaran, lokasi lama terlalu sempit dan sering menyebabkan kesesakan lalu lintas"
            " pada setiap pagi Sabtu.",
            "Peniaga sayur dan buah-buahan menyambut baik keputusan itu tetapi meminta tempat letak kenderaan"
            " tambahan disediakan berhampiran dataran.",
            "Majlis perbandaran juga bercadang menyediakan gerai khas untuk usahawan muda yang menjual makanan"
            " tradisional.",
        ),
        boilerplate=(
            B("related", "Baca juga:", "Harga sayur stabil menjelang cuti sekolah", after=1),
            B("promo", "Langgan surat berita kami untuk menerima berita pilihan setiap pagi.", after=3),
            B("embed", "IKLAN", after=2),
        ),
        footer=("Hak cipta terpelihara 2026 Warta Kota Sdn Bhd.",),
    ),
    EvalPage(
        name="en-wire-reporting",
        language="en",
        layout="wire",
        title="Port operators expand night shifts as cargo volumes rise",
        dateline="SINGAPORE, Dec 1 - ",
        gold=(
            "SINGAPORE, Dec 1 - Port operators across the region are adding night shifts at container terminals as"
            " cargo volumes rise ahead of the holiday season, industry officials said on Tuesday.",
            "Two of the largest terminals reported waiting times of more than a day for some vessels last week, the"
            " longest delays since the start of the year.",
            "Shipping lines have asked for more berths to be opened at short notice, while trucking firms warned"
            " that road congestion around the terminals was getting worse.",
            "Analysts expect volumes to ease in the first quarter, when factories slow down for the lunar new year"
            " holidays.",
        ),
        boilerplate=(
            B(
                "credits",
                "Reporting by Mei Lin Tan; Additional reporting by Arjun Rao; Editing by Helen Moore",
                after=3,
            ),
            B("embed", "___", after=3),
        ),
    ),
    EvalPage(
        name="en-agency-contributed",
        language="en",
        layout="agency",
        title="Library opens a seed bank for home gardeners",
        gold=(
            "A public library in a small river town has opened a seed bank where residents can borrow vegetable"
            " seeds in spring and return seeds from their harvest in autumn.",
            "Librarians said more than three hundred people signed up in the first month, many of them families"
            " growing food for the first time.",
            "The publisher said its content may not be used to train artificial intelligence without written"
            " permission, and it has written to two software companies.",
            "The seed bank is funded by a small grant from the county and relies on volunteers who sort and label"
            " the returned seeds.",
        ),
        boilerplate=(
            B("credits", "Associated Press writer Dana Ortiz in Boise contributed to this report.", after=3),
            B(
                "rights",
                "Copyright 2026 The Associated Press. All rights reserved. This material may not be published,"
                " broadcast, rewritten or redistributed without permission.",
                after=3,
            ),
            B(
                "credits",
                "This story was produced with support from a community journalism foundation. The newsroom is"
                " solely responsible for all content.",
                after=3,
            ),
        ),
    ),
    EvalPage(
        name="en-magazine-ai-footer",
        language="en",
        layout="magazine",
        title="Why city pools are staying open through the winter",
        gold=(
            "Three municipal pools will stay open through the winter for the first time, after the city council"
            " agreed to cover the heating costs from its sports budget.",
            "Swimming clubs had argued that closing the pools for five months set back young swimmers, who then"
            " spent the spring catching up.",
            "The council expects the extra cost to be partly offset by longer opening hours and a new evening ticket"
            " for adults.",
            "Lifeguards will be hired from a pool of trained students, who can work flexible shifts around their"
            " studies.",
        ),
        boilerplate=(
            B("related", "Related:", "How the city cut its energy bill by a fifth", after=0),
            B("embed", "ADVERTISEMENT", after=1),
            B("promo", "Sign up for our weekly newsletter to get the best local stories in your inbox.", after=2),
            B("related", "Read more", after=3),
        ),
        footer=(
            "© 2026 Riverside Weekly Media.",
            "No AI training. Reproduction of this article for the purposes of text and data mining, including the"
            " training of artificial intelligence systems, is prohibited without the prior written permission of"
            " the publisher.",
        ),
        notices=(
            "No AI training.",
            "Reproduction of this article for the purposes of text and data mining, including the training of"
            " artificial intelligence systems, is prohibited without the prior written permission of the"
            " publisher.",
        ),
    ),
    EvalPage(
        name="en-local-reported-speech",
        language="en",
        layout="detail",
        title="Regional papers agree on a common line on AI",
        gold=(
            "Eleven regional newspapers have agreed on a common policy for how their archives may be used by"
            " technology companies, the group announced on Monday.",
            "All publishers in the group now state that their content may not be used to train AI systems without"
            " permission, a spokesperson confirmed.",
            "The group will also publish a short guide for readers explaining how the papers use automated tools"
            " in their own newsrooms.",
            "“Our stories may not be copied into AI models without a licence,” the chair of the group told a"
            " meeting of editors.",
        ),
        boilerplate=(
            B("embed", "SCROLL TO CONTINUE WITH CONTENT", after=1),
            B("promo", "Subscribe to our newsletter for daily updates.", after=2),
        ),
    ),
    EvalPage(
        name="de-portal-tdm",
        language="de",
        layout="eu",
        title="Stadtbibliothek verlängert Öffnungszeiten",
        gold=(
            "Die Stadtbibliothek öffnet ab Januar auch sonntags, nachdem sich in einer Umfrage mehr als die Hälfte"
            " der Befragten längere Öffnungszeiten gewünscht hatte.",
            "Der Betrieb am Wochenende wird von zusätzlichen Aushilfen und ehrenamtlichen Lesepaten getragen, die"
            " vor allem Kinder beim Lesen begleiten.",
            "Nach Angaben der Leitung werden auch die Lernplätze im Obergeschoss erweitert, weil sie in der"
            " Prüfungszeit regelmäßig ausgebucht sind.",
            "Die Stadt rechnet mit zusätzlichen Kosten im niedrigen sechsstelligen Bereich, die teilweise durch"
            " Fördermittel des Landes gedeckt werden.",
        ),
        boilerplate=(
            B("related", "Lesen Sie auch:", "Neue Radwege rund um den Hauptbahnhof", after=0),
            B("embed", "Anzeige", after=1),
            B("related", "Mehr zum Thema:", "Wie Bibliotheken zu Treffpunkten werden", after=3),
        ),
        footer=(
            "© 2026 Stadtanzeiger Verlag GmbH. Alle Rechte vorbehalten.",
            "Der Verlag behält sich eine Nutzung seiner Inhalte für Text- und Data-Mining im Sinne von § 44b UrhG"
            " ausdrücklich vor.",
        ),
        notices=(
            "Der Verlag behält sich eine Nutzung seiner Inhalte für Text- und Data-Mining im Sinne von § 44b UrhG"
            " ausdrücklich vor.",
        ),
    ),
    EvalPage(
        name="fr-portal-opposition",
        language="fr",
        layout="eu",
        title="Les marchés de producteurs s'installent dans les gares",
        gold=(
            "Plusieurs gares régionales accueilleront dès le printemps un marché de producteurs chaque vendredi"
            " soir, pour permettre aux voyageurs de faire leurs courses au retour du travail.",
            "Les premiers essais menés cet automne ont attiré plus de clients que prévu, selon la direction"
            " régionale des gares.",
            "Les producteurs paient un emplacement modeste et s'engagent à vendre des produits cultivés à moins de"
            " cinquante kilomètres.",
            "La région souhaite étendre l'expérience à une dizaine de gares supplémentaires avant la fin de"
            " l'année prochaine.",
        ),
        boilerplate=(
            B("related", "Lire aussi :", "Le prix des fruits d'hiver reste stable", after=0),
            B("embed", "Publicité", after=1),
            B("promo", "Abonnez-vous à notre newsletter pour recevoir l'essentiel de l'actualité régionale.", after=3),
        ),
        footer=(
            "Tous droits réservés.",
            "L'éditeur s'oppose à toute fouille de textes et de données de ses contenus au sens de l'article"
            " L. 122-5-3 du code de la propriété intellectuelle.",
        ),
        notices=(
            "L'éditeur s'oppose à toute fouille de textes et de données de ses contenus au sens de l'article"
            " L. 122-5-3 du code de la propriété intellectuelle.",
        ),
    ),
    EvalPage(
        name="es-portal-prohibida",
        language="es",
        layout="eu",
        title="Los huertos urbanos ganan espacio en los barrios",
        gold=(
            "El ayuntamiento cederá doce solares vacíos a asociaciones vecinales para crear huertos urbanos, con"
            " riego por goteo y talleres gratuitos de cultivo.",
            "Los vecinos podrán solicitar una parcela durante dos años y se dará prioridad a las familias con niños"
            " y a las personas mayores.",
            "Las asociaciones se comprometen a mantener los espacios abiertos al público los fines de semana y a"
            " organizar visitas de colegios.",
            "El proyecto se financiará con fondos municipales y con la colaboración de una cooperativa agrícola de"
            " la comarca.",
        ),
        boilerplate=(
            B("related", "Lee también:", "La ciudad plantará mil árboles en sus avenidas", after=0),
            B("embed", "Publicidad", after=1),
            B("related", "Te puede interesar:", "Cómo empezar un huerto en el balcón", after=2),
        ),
        footer=(
            "Todos los derechos reservados.",
            "Queda prohibida la reproducción de los artículos de este sitio para entrenar sistemas de inteligencia"
            " artificial sin autorización previa.",
        ),
        notices=(
            "Queda prohibida la reproducción de los artículos de este sitio para entrenar sistemas de inteligencia"
            " artificial sin autorización previa.",
        ),
    ),
    EvalPage(
        name="pt-portal-whatsapp",
        language="pt",
        layout="eu",
        title="Biblioteca itinerante chega às aldeias do interior",
        gold=(
            "Uma carrinha transformada em biblioteca vai percorrer as aldeias do interior todas as semanas,"
            " levando livros, jornais e acesso à internet a quem vive longe das vilas.",
            "A iniciativa nasceu de um grupo de professores reformados que recolheu mais de quatro mil livros"
            " doados por famílias da região.",
            "Os leitores podem requisitar até três livros por visita e devolvê-los na passagem seguinte da carrinha.",
            "A câmara municipal assegura o combustível e a manutenção do veículo durante os próximos dois anos.",
        ),
        boilerplate=(
            B("related", "Leia também:", "Escolas rurais recebem novos computadores", after=0),
            B("embed", "Publicidade", after=2),
            B("promo", "Receba as notícias da região no seu WhatsApp: junte-se ao nosso canal.", after=3),
        ),
        footer=("Todos os direitos reservados.",),
    ),
    EvalPage(
        name="nl-portal-voorbehoud",
        language="nl",
        layout="eu",
        title="Gemeente opent deelwerkplaats voor fietsen",
        gold=(
            "In een leegstaande garage aan de rand van het centrum opent de gemeente een deelwerkplaats waar"
            " bewoners gratis hun fiets kunnen repareren.",
            "Vrijwilligers met ervaring in fietsenmakerij helpen op woensdagavond en zaterdagochtend bij lastige"
            " klussen zoals remmen en versnellingen.",
            "Gereedschap en onderdelen worden betaald uit een buurtbudget, aangevuld met giften van lokale winkeliers.",
            "De gemeente wil na een jaar bekijken of er ook in andere wijken behoefte is aan zo'n werkplaats.",
        ),
        boilerplate=(
            B("related", "Lees ook:", "Meer stallingsplekken bij het station", after=0),
            B("embed", "Advertentie", after=1),
        ),
        footer=(
            "Alle rechten voorbehouden.",
            "De uitgever behoudt zich uitdrukkelijk het recht voor om tekst- en datamining van deze website te"
            " verbieden.",
        ),
        notices=(
            "De uitgever behoudt zich uitdrukkelijk het recht voor om tekst- en datamining van deze website te"
            " verbieden.",
        ),
    ),
    EvalPage(
        name="it-portal-riproduzione",
        language="it",
        layout="eu",
        title="Il mercato coperto riapre dopo i lavori",
        gold=(
            "Il mercato coperto del centro storico riapre sabato dopo diciotto mesi di lavori che hanno rinnovato il"
            " tetto, l'impianto elettrico e i banchi di vendita.",
            "I commercianti storici torneranno nei loro spazi, mentre sei nuovi banchi saranno assegnati a giovani"
            " produttori della provincia.",
            "Il comune prevede orari più lunghi il venerdì sera e una piccola area per degustazioni all'ingresso"
            " principale.",
            "Secondo l'assessore, il mercato dovrà diventare anche un luogo di incontro per le associazioni del"
            " quartiere.",
        ),
        boilerplate=(
            B("related", "Leggi anche:", "Nuove piste ciclabili lungo il fiume", after=0),
            B("embed", "Pubblicità", after=2),
        ),
        footer=("Riproduzione riservata ©",),
    ),
    EvalPage(
        name="en-wire-no-notice",
        language="en",
        layout="br",
        title="Farmers test drones to count sheep on hill farms",
        gold=(
            "Hill farmers in the north are testing small drones to count sheep on steep slopes, saving hours of"
            " walking in bad weather.",
            "The trial, run by an agricultural college, found the drones counted flocks as accurately as two"
            " experienced shepherds working together.",
            "Farmers said the biggest gain was in winter, when checking on animals in snow can take most of a day.",
            "The college plans to publish its results in the spring and lend drones to farms that want to try them.",
        ),
        boilerplate=(
            B("related", "Read also:", "Wool prices recover after a difficult year", after=0),
            B("embed", "Advertisement", after=1),
            B("promo", "Get the latest farming news delivered to your inbox. Click here to subscribe.", after=3),
        ),
    ),
    EvalPage(
        name="id-portal-reported-notice",
        language="id",
        layout="br",
        title="Asosiasi Media Sepakati Pedoman Penggunaan AI",
        gold=(
            "Jakarta - Asosiasi media daring menyepakati pedoman bersama tentang penggunaan kecerdasan buatan di"
            " ruang redaksi dalam pertemuan tahunan di Jakarta.",
            "Konten anggota asosiasi dilarang dipakai untuk melatih AI tanpa izin tertulis, kata ketua asosiasi"
            " kepada wartawan.",
            "Pedoman itu juga mewajibkan setiap media mencantumkan keterangan bila sebuah artikel disusun dengan"
            " bantuan perangkat otomatis.",
            "\u201cKami tidak menolak teknologi, tetapi karya wartawan tidak boleh diambil untuk melatih AI tanpa"
            " persetujuan,\u201d ujar salah satu pemimpin redaksi.",
        ),
        boilerplate=(
            B("related", "Baca juga:", "Dewan pers terbitkan panduan liputan pemilu", after=0),
            B("credits", "(rdn/ega)", after=3, suffix=True),
        ),
    ),
)


# --------------------------------------------------------------------------------------------- layouts


def _e(text: str) -> str:
    return html.escape(text, quote=False)


def _boilerplate_html(item: Boilerplate, block: str = "p") -> str:
    if item.link:
        return f'<{block} class="related"><strong>{_e(item.text)}</strong> <a href="/r/1">{_e(item.link)}</a></{block}>'
    if item.family == "embed":
        return f'<div class="ad-slot"><span>{_e(item.text)}</span></div>'
    return f"<{block}>{_e(item.text)}</{block}>"


def _body_blocks(page: EvalPage, block: str = "p", glue: Callable[[str], str] | None = None) -> list[str]:
    """The article body: gold paragraphs with the page's inline boilerplate placed after them."""
    last = len(page.gold) - 1
    blocks = []
    for i, paragraph in enumerate(page.gold):
        suffixes = [b.text for b in page.boilerplate if b.suffix and (b.after if b.after >= 0 else last) == i]
        text = " ".join([_e(paragraph), *map(_e, suffixes)])
        blocks.append(glue(text) if glue else f"<{block}>{text}</{block}>")
        for item in page.boilerplate:
            if not item.suffix and (item.after if item.after >= 0 else last) == i:
                blocks.append(_boilerplate_html(item, block if block != "br" else "div"))
    return blocks


def _head(page: EvalPage, site: str) -> str:
    return (
        f'<!DOCTYPE html><html lang="{page.language}"><head><meta charset="utf-8"><title>{_e(page.title)} - {site}'
        f'</title><meta property="og:site_name" content="{site}"><meta name="description" content="{_e(page.gold[0][:120])}">'
        "</head><body>"
    )


def _nav(items: tuple[str, ...]) -> str:
    return "<nav><ul>" + "".join(f'<li><a href="/{i}">{_e(i)}</a></li>' for i in items) + "</ul></nav>"


def _footer(page: EvalPage, links: tuple[str, ...]) -> str:
    lines = "".join(f"<p>{_e(line)}</p>" for line in page.footer)
    return "<footer>" + "".join(f'<a href="/{x}">{_e(x)}</a> ' for x in links) + lines + "</footer>"


def _detail(page: EvalPage) -> str:
    """Portal with a breadcrumb, a detail body of <p>, video embeds and interstitial ads, a "popular" sidebar."""
    return (
        _head(page, "Portal Nusa")
        + _nav(("Beranda", "News", "Finance", "Sport", "Hot", "Inet"))
        + '<div class="container"><div class="column-8"><article class="detail">'
        + '<div class="breadcrumb"><a href="/">Home</a> / <a href="/news">News</a></div>'
        + f'<h1 class="detail__title">{_e(page.title)}</h1><div class="detail__author">Tim Redaksi</div>'
        + '<div class="detail__date">Sabtu, 29 Nov 2026 10:15 WIB</div>'
        + '<figure><img src="/f.jpg" alt=""><figcaption>Foto: dokumentasi</figcaption></figure>'
        + '<div class="detail__body-text itp_bodycontent">'
        + "".join(_body_blocks(page))
        + '</div><div class="detail__body-tag"><a href="/tag/a">tag satu</a> <a href="/tag/b">tag dua</a></div>'
        + '</article></div><aside class="column-4"><h3>Terpopuler</h3><ol>'
        + "".join(f'<li><a href="/p/{n}">Berita populer nomor {n} hari ini</a></li>' for n in range(1, 6))
        + "</ol></aside></div>"
        + _footer(page, ("Redaksi", "Pedoman Media Siber", "Karir", "Kotak Pos"))
        + "</body></html>"
    )


def _br(page: EvalPage) -> str:
    """Portal whose body is text separated by <br><br>, labels in <strong>, promos in the body."""

    def glue(text: str) -> str:
        return f"{text}<br><br>"

    return (
        _head(page, "Kabar Kini")
        + _nav(("Nasional", "Global", "Megapolitan", "Tren", "Video"))
        + f'<div class="read__header"><h1 class="read__title">{_e(page.title)}</h1>'
        + '<div class="read__time">Kabar Kini - 30/11/2026, 07:00 WIB</div></div>'
        + '<main><div class="read__content"><div class="clearfix">'
        + "".join(_body_blocks(page, "br", glue))
        + '</div></div><div class="read__tags">Tag: <a href="/t/x">transportasi</a></div>'
        + '<div class="most"><h4>Terpopuler</h4>'
        + "".join(f'<p><a href="/m/{n}">Artikel terpopuler ke-{n}</a></p>' for n in range(1, 5))
        + "</div></main>"
        + _footer(page, ("Tentang Kami", "Kebijakan Data Pribadi", "Pedoman Media Siber"))
        + "</body></html>"
    )


def _agency(page: EvalPage) -> str:
    """News agency page: dateline body, credits and copyright inside the post content, notice in the footer."""
    return (
        _head(page, "Kantor Berita")
        + _nav(("Terkini", "Politik", "Ekonomi", "Dunia", "English"))
        + f'<div class="wrapper"><div class="post"><h1 class="post-title">{_e(page.title)}</h1>'
        + '<p class="post-meta">1 Desember 2026 09:12</p><div class="post-content">'
        + "".join(_body_blocks(page))
        + '</div></div><div class="sidebar"><h4>Berita Terkait</h4>'
        + "".join(f'<p><a href="/r/{n}">Berita terkait nomor {n}</a></p>' for n in range(1, 4))
        + "</div></div>"
        + _footer(page, ("Tentang", "Kontak", "Privasi"))
        + "</body></html>"
    )


def _wire(page: EvalPage) -> str:
    """Wire-service page: numbered paragraph elements, sign-off and separators at the end."""
    blocks = _body_blocks(page)
    return (
        _head(page, "Wire Desk")
        + _nav(("World", "Business", "Markets", "Sustainability", "Legal"))
        + f'<main><article><header><h1 data-testid="Heading">{_e(page.title)}</h1>'
        + '<time datetime="2026-12-01T08:00:00Z">December 1, 2026</time></header>'
        + '<div class="article-body__content">'
        + "".join(b.replace("<p>", f'<p data-testid="paragraph-{i}">', 1) for i, b in enumerate(blocks))
        + '</div><div class="trust"><a href="/standards">Our Standards</a></div></article>'
        + "<aside><h2>Most read</h2>"
        + "".join(f'<a href="/w/{n}">Market story number {n}</a>' for n in range(1, 5))
        + "</aside></main>"
        + _footer(page, ("About", "Careers", "Contact"))
        + "</body></html>"
    )


def _magazine(page: EvalPage) -> str:
    """Magazine layout: entry content with related asides, ad slots, a newsletter box, a share bar."""
    return (
        _head(page, "Riverside Weekly")
        + '<header class="site-header"><a class="logo" href="/">Riverside Weekly</a>'
        + _nav(("News", "Culture", "Food", "Opinion", "Events"))
        + "</header>"
        + f'<main><article class="post"><h1 class="entry-title">{_e(page.title)}</h1>'
        + '<div class="byline">By Staff Writer | November 30, 2026</div>'
        + '<div class="share"><a href="/s/fb">Share</a> <a href="/s/x">Post</a></div><div class="entry-content">'
        + "".join(_body_blocks(page))
        + '</div><div class="newsletter-box"><form><input type="email"><button>Subscribe</button></form></div>'
        + '</article><aside class="sidebar"><h3>Trending</h3>'
        + "".join(f'<a href="/t/{n}">Trending piece {n}</a>' for n in range(1, 5))
        + "</aside></main>"
        + _footer(page, ("About us", "Advertise", "Privacy"))
        + "</body></html>"
    )


def _eu(page: EvalPage) -> str:
    """European regional portal: article__body paragraphs, teaser labels, ad labels, legal footer."""
    return (
        _head(page, "Regionalportal")
        + _nav(("Lokales", "Politik", "Wirtschaft", "Kultur", "Sport"))
        + f'<main><article><h1 class="article__title">{_e(page.title)}</h1>'
        + '<p class="article__meta">01.12.2026</p><div class="article__body">'
        + "".join(_body_blocks(page))
        + "</div></article><aside><h2>Meistgelesen</h2><ul>"
        + "".join(f'<li><a href="/m/{n}">Meistgelesen {n}</a></li>' for n in range(1, 5))
        + "</ul></aside></main>"
        + _footer(page, ("Impressum", "Datenschutz", "Kontakt"))
        + "</body></html>"
    )


LAYOUTS: dict[str, Callable[[EvalPage], str]] = {
    "detail": _detail,
    "br": _br,
    "agency": _agency,
    "wire": _wire,
    "magazine": _magazine,
    "eu": _eu,
}


def render(page: EvalPage) -> str:
    return LAYOUTS[page.layout](page)


# --------------------------------------------------------------------------------------------- scoring


@dataclass
class PageResult:
    page: EvalPage
    f1: float
    surviving: list[tuple[str, str]]  # (family, line) of boilerplate still in the clean text
    lost: list[str]  # gold paragraphs missing from the clean text (as whole lines)
    notices_found: list[str]  # AI/TDM reservation sentences found (page scan and cleaner)
    missing_notices: list[str]
    false_notices: list[str]
    removed_by_family: dict[str, int] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return (
            self.f1 >= TARGET_PAGE_F1
            and not self.surviving
            and not self.lost
            and not self.missing_notices
            and not self.false_notices
        )


TARGET_PAGE_F1 = 0.98


def evaluate(page: EvalPage) -> PageResult:
    """Clean and scan one page as the pipeline does and compare with what the page says it holds."""
    from bench.scoring import page_counts
    from feedvault.cleaning import CleanOptions, clean_html
    from feedvault.config import CleaningRules
    from feedvault.permission.signals import scan_page

    markup = render(page)
    result = clean_html(markup, f"https://portal.example/{page.name}", CleanOptions())
    tp, fp, fn = page_counts("\n".join(page.gold), result.text)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    lines = result.text.splitlines()
    scan = scan_page(markup, CleaningRules())
    found = {n["text"] for n in scan["notices"] if n["kind"] == "ai-reservation"}
    found |= {r.text for r in result.rights_reservations if r.kind == "ai-reservation"}
    by_family: dict[str, int] = {}
    for removed in result.removed:
        by_family[removed.family] = by_family.get(removed.family, 0) + 1
    return PageResult(
        page=page,
        f1=f1,
        surviving=[(family, line) for family, line in page.must_not_survive if line in result.text],
        lost=[paragraph for paragraph in page.gold if paragraph not in lines],
        notices_found=sorted(found),
        missing_notices=[n for n in page.notices if n not in found],
        false_notices=sorted(n for n in found if n not in page.notices),
        removed_by_family=by_family,
    )
