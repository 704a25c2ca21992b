import type { Random } from './random.ts';

/**
 * Values that trip naive CSV/JSON handling: quotes, commas, line breaks, backslashes,
 * PostgreSQL's `\N`, emoji (4-byte UTF-8, ZWJ sequences), right-to-left text.
 */
export const MESSY_STRINGS: readonly string[] = [
  'Café "Le Monde", Paris',
  'first line\nsecond line\r\nthird',
  'C:\\Users\\amp\\report.csv',
  'ends with a backslash \\',
  '😀 launch 🎉 👩‍👩‍👧‍👦',
  '',
  'tab\tseparated',
  'comma, separated, values',
  "it's \"quoted\" twice ''",
  '中文字符 / 日本語 / 한국어 / العربية',
  '\\N',
  'NULL',
  '  leading and trailing spaces  ',
  '<script>alert("x")</script>',
  '{"looks":"like json"}',
  'semi;colon|pipe',
];

const EVENT_TYPES = [
  'Page Viewed',
  'Button Clicked',
  'Search',
  'Add To Cart',
  'Purchase Completed',
  'Video Played',
  'Share',
  'Error Occurred',
  'Sign Up',
  'session_start',
  '$identify',
] as const;
type EventType = (typeof EVENT_TYPES)[number];
const EVENT_WEIGHTS: Record<EventType, number> = {
  'Page Viewed': 30,
  'Button Clicked': 20,
  Search: 10,
  'Add To Cart': 8,
  'Purchase Completed': 4,
  'Video Played': 8,
  Share: 4,
  'Error Occurred': 3,
  'Sign Up': 2,
  session_start: 8,
  $identify: 3,
};

const PLACES = [
  {
    country: 'United States',
    region: 'California',
    city: 'San Francisco',
    dma: 'San Francisco-Oakland-San Jose, CA',
    lat: 37.7749,
    lng: -122.4194,
    language: 'English',
  },
  {
    country: 'United States',
    region: 'New York',
    city: 'New York',
    dma: 'New York, NY',
    lat: 40.7128,
    lng: -74.006,
    language: 'English',
  },
  {
    country: 'Brazil',
    region: 'São Paulo',
    city: 'São Paulo',
    dma: null,
    lat: -23.5505,
    lng: -46.6333,
    language: 'Portuguese',
  },
  {
    country: 'Germany',
    region: 'Bayern',
    city: 'München',
    dma: null,
    lat: 48.1351,
    lng: 11.582,
    language: 'German',
  },
  {
    country: 'Switzerland',
    region: 'Zürich',
    city: 'Zürich',
    dma: null,
    lat: 47.3769,
    lng: 8.5417,
    language: 'German',
  },
  {
    country: 'Poland',
    region: 'Lesser Poland',
    city: 'Kraków',
    dma: null,
    lat: 50.0647,
    lng: 19.945,
    language: 'Polish',
  },
  {
    country: 'Japan',
    region: 'Tokyo',
    city: '東京',
    dma: null,
    lat: 35.6762,
    lng: 139.6503,
    language: 'Japanese',
  },
  {
    country: 'Côte d’Ivoire',
    region: 'Abidjan',
    city: 'Abidjan',
    dma: null,
    lat: 5.36,
    lng: -4.0083,
    language: 'French',
  },
  {
    country: 'India',
    region: 'Karnataka',
    city: 'Bengaluru',
    dma: null,
    lat: 12.9716,
    lng: 77.5946,
    language: 'English',
  },
  { country: '', region: '', city: '', dma: null, lat: null, lng: null, language: '' },
] as const;

const DEVICES = [
  {
    platform: 'iOS',
    os_name: 'ios',
    os_version: '17.4.1',
    device_brand: 'Apple',
    device_manufacturer: 'Apple',
    device_model: 'iPhone15,2',
    device_family: 'Apple iPhone',
    device_type: 'Apple iPhone 14 Pro',
    library: 'amplitude-swift/1.4.3',
    carrier: 'Verizon',
  },
  {
    platform: 'iOS',
    os_name: 'ipados',
    os_version: '16.7',
    device_brand: 'Apple',
    device_manufacturer: 'Apple',
    device_model: 'iPad Mini',
    device_family: 'Apple iPad',
    device_type: 'Apple iPad Mini',
    library: 'amplitude-swift/1.4.3',
    carrier: null,
  },
  {
    platform: 'Android',
    os_name: 'android',
    os_version: '14',
    device_brand: 'google',
    device_manufacturer: 'Google',
    device_model: 'Pixel 8',
    device_family: 'Google Pixel',
    device_type: 'Google Pixel 8',
    library: 'amplitude-android/1.16.8',
    carrier: 'T-Mobile',
  },
  {
    platform: 'Android',
    os_name: 'android',
    os_version: '13',
    device_brand: 'samsung',
    device_manufacturer: 'Samsung',
    device_model: 'SM-S911B',
    device_family: 'Samsung Galaxy S23',
    device_type: 'Samsung Galaxy S23',
    library: 'amplitude-android/1.16.8',
    carrier: 'Vodafone DE',
  },
  {
    platform: 'Web',
    os_name: 'Chrome',
    os_version: '124',
    device_brand: null,
    device_manufacturer: null,
    device_model: 'Mac OS',
    device_family: 'Mac',
    device_type: 'Mac',
    library: 'amplitude-ts/2.7.2',
    carrier: null,
  },
  {
    platform: 'Web',
    os_name: 'Firefox',
    os_version: '125.0',
    device_brand: null,
    device_manufacturer: null,
    device_model: 'Windows',
    device_family: 'Windows',
    device_type: 'Windows',
    library: 'amplitude-ts/2.7.2',
    carrier: null,
  },
] as const;

const PAGES = [
  '/',
  '/pricing',
  '/docs/getting-started',
  '/blog/2024/05/launch',
  '/account/settings',
  '/checkout?step=2&coupon=SPRING%2C24',
];
const PRODUCTS = [
  { sku: 'SKU-1001', name: 'Trail Shoe "Aero"', price: 129.99 },
  { sku: 'SKU-2002', name: 'Water bottle, 750 ml', price: 18.5 },
  { sku: 'SKU-3003', name: 'Socken — 3er Pack', price: 12 },
  { sku: 'SKU-4004', name: 'Gift card 🎁', price: 50 },
];

export interface SampleUser {
  readonly amplitudeId: number;
  readonly userId: string | null;
  readonly deviceId: string;
  readonly device: (typeof DEVICES)[number];
  readonly place: (typeof PLACES)[number];
  readonly ip: string;
  readonly startVersion: string;
  readonly versionName: string;
  readonly creationTimeMs: number;
  readonly paying: string | null;
  readonly adid: string | null;
  readonly idfa: string | null;
  readonly plan: string;
  readonly cohort: string;
  eventId: number;
  sessionStartMs: number;
}

/** Amplitude's export form of a UTC instant; microseconds come from `extraMicros`. */
export function exportTimestamp(ms: number, extraMicros: number, separator: ' ' | 'T'): string {
  const iso = new Date(ms).toISOString(); // 2024-05-01T12:34:56.789Z
  return `${iso.slice(0, 10)}${separator}${iso.slice(11, 23)}${String(extraMicros).padStart(3, '0')}`;
}

/** Builds realistic export events (about 1.5 KB of JSON each) for one project. */
export class EventFactory {
  private readonly users: SampleUser[];
  private readonly weightedTypes: EventType[];

  constructor(
    private readonly random: Random,
    private readonly projectId: number,
    epochMs: number,
    userCount = 400,
  ) {
    this.users = Array.from({ length: userCount }, (_, i) => this.makeUser(i, epochMs));
    this.weightedTypes = EVENT_TYPES.flatMap((type) => Array<EventType>(EVENT_WEIGHTS[type]).fill(type));
  }

  /**
   * One new event uploaded within [hourStartMs, hourStartMs + 1 h). With `dropEventTime`
   * the line carries no usable `event_time`, so the loader must derive it (seed rule).
   */
  event(hourStartMs: number, dropEventTime: boolean): Record<string, unknown> {
    const r = this.random;
    const user = r.pick(this.users);
    const type = r.pick(this.weightedTypes);
    const uploadMs = hourStartMs + r.int(0, 3_599_999);
    const receivedMs = uploadMs - r.int(0, 2_000);
    const skewed = r.chance(0.1);
    const clientUploadMs = skewed
      ? receivedMs - r.pick([-1, 1]) * r.int(120_000, 3 * 3_600_000)
      : receivedMs - r.int(50, 1_500);
    const clientEventMs = clientUploadMs - r.int(0, 600_000);
    const difference = receivedMs - clientUploadMs;
    const eventMs = Math.abs(difference) < 60_000 ? clientEventMs : clientEventMs + difference;
    if (eventMs - user.sessionStartMs > 1_800_000 || eventMs < user.sessionStartMs)
      user.sessionStartMs = eventMs;
    user.eventId += 1;
    const sep: ' ' | 'T' = r.chance(0.15) ? 'T' : ' ';
    const micros = r.int(0, 999);
    const ts = (ms: number) => exportTimestamp(ms, micros, sep);
    const identify = type === '$identify';
    const event: Record<string, unknown> = {
      $insert_id: r.chance(0.03) ? null : `${user.deviceId.slice(0, 8)}-${r.hex(12)}`,
      $schema: 12,
      adid: user.adid,
      amplitude_attribution_ids: r.chance(0.2) ? [r.hex(32)] : null,
      amplitude_event_type: type === 'session_start' ? 'session_start' : null,
      amplitude_id: user.amplitudeId,
      app: r.chance(0.05) ? String(this.projectId) : this.projectId,
      city: user.place.city,
      client_event_time: ts(clientEventMs),
      client_upload_time: ts(clientUploadMs),
      country: user.place.country,
      data: this.data(user),
      data_type: identify ? 'identify' : 'event',
      device_brand: user.device.device_brand,
      device_carrier: user.device.carrier,
      device_family: user.device.device_family,
      device_id: user.deviceId,
      device_manufacturer: user.device.device_manufacturer,
      device_model: user.device.device_model,
      device_type: user.device.device_type,
      dma: user.place.dma,
      event_id: user.eventId,
      event_properties: identify ? {} : this.properties(type),
      event_time: ts(eventMs),
      event_type: type,
      followed_an_identify: r.chance(0.05),
      global_user_properties: r.chance(0.1) ? { plan: user.plan } : {},
      group_properties: r.chance(0.2)
        ? { company: { name: r.pick(['Acme, Inc.', 'Globex "GmbH"', 'Initech']), seats: r.int(1, 500) } }
        : {},
      groups: r.chance(0.2) ? { company: [r.pick(['acme', 'globex', 'initech'])] } : {},
      idfa: user.idfa,
      ip_address: user.ip,
      is_attribution_event: r.chance(0.02) ? 'True' : false,
      language: user.place.language,
      library: user.device.library,
      location_lat: user.place.lat,
      location_lng: user.place.lng,
      os_name: user.device.os_name,
      os_version: user.device.os_version,
      partner_id: null,
      paying: user.paying,
      plan: r.chance(0.3)
        ? { branch: 'main', source: user.device.platform.toLowerCase(), version: String(r.int(1, 40)) }
        : {},
      platform: user.device.platform,
      processed_time: ts(uploadMs + r.int(1_000, 30_000)),
      region: user.place.region,
      sample_rate: null,
      server_received_time: ts(receivedMs),
      server_upload_time: ts(uploadMs),
      session_id: r.chance(0.05) ? -1 : user.sessionStartMs,
      source_id: r.chance(0.1) ? `source-${r.int(1, 9)}` : null,
      start_version: user.startVersion,
      user_creation_time: ts(user.creationTimeMs),
      user_id: user.userId,
      user_properties: this.userProperties(user),
      uuid: r.uuid(),
      version_name: user.versionName,
    };
    if (dropEventTime) {
      if (r.chance(0.5)) delete event.event_time;
      else event.event_time = null;
    }
    return event;
  }

  private makeUser(index: number, epochMs: number): SampleUser {
    const r = this.random;
    const device = r.pick(DEVICES);
    const ios = device.platform === 'iOS';
    const android = device.platform === 'Android';
    const anonymous = r.chance(0.3);
    const emailLike = r.chance(0.3);
    let userId: string | null = null;
    if (!anonymous) {
      userId = emailLike ? `user+${index}@example.com` : `user-${index}`;
      if (r.chance(0.1)) userId = `${r.pick(MESSY_STRINGS)}#${index}`;
    }
    return {
      amplitudeId: r.int(100_000_000, 999_999_999_999),
      userId,
      deviceId: ios ? r.uuid().toUpperCase() : android ? r.uuid() : `${r.hex(21)}R`,
      device,
      place: r.pick(PLACES),
      ip: r.chance(0.15)
        ? `2001:db8:${r.hex(4)}::${r.hex(4)}`
        : `${r.int(1, 223)}.${r.int(0, 255)}.${r.int(0, 255)}.${r.int(1, 254)}`,
      startVersion: `${r.int(1, 3)}.${r.int(0, 9)}.${r.int(0, 20)}`,
      versionName: `${r.int(3, 4)}.${r.int(0, 9)}.${r.int(0, 20)}`,
      creationTimeMs: epochMs - r.int(0, 400) * 86_400_000 - r.int(0, 86_399_999),
      paying: r.chance(0.2) ? 'true' : null,
      adid: android && r.chance(0.6) ? r.uuid().toUpperCase() : null,
      idfa: ios && r.chance(0.4) ? r.uuid().toUpperCase() : null,
      plan: r.pick(['free', 'pro', 'enterprise']),
      cohort: `2024-W${String(r.int(1, 52)).padStart(2, '0')}`,
      eventId: r.int(0, 5_000),
      sessionStartMs: 0,
    };
  }

  private properties(type: EventType): Record<string, unknown> {
    const r = this.random;
    const messy = () => r.pick(MESSY_STRINGS);
    switch (type) {
      case 'Page Viewed':
        return {
          page_path: r.pick(PAGES),
          page_title: r.chance(0.2) ? messy() : 'Pricing | Example',
          referrer: r.chance(0.5) ? 'https://www.google.com/' : null,
          utm: {
            source: r.pick(['google', 'newsletter', 'twitter']),
            campaign: r.chance(0.3) ? messy() : 'spring_24',
          },
          scroll_depth: r.int(0, 100) / 100,
        };
      case 'Button Clicked':
        return {
          button_id: `btn-${r.int(1, 40)}`,
          label: r.chance(0.3) ? messy() : 'Continue',
          position: [r.int(0, 1920), r.int(0, 1080)],
          experiment: { id: 'exp_42', variant: r.pick(['control', 'treatment']) },
        };
      case 'Search':
        return {
          query: r.chance(0.5) ? messy() : 'running shoes size 42',
          results_count: r.int(0, 500),
          filters: {
            color: [r.pick(['red', 'blue'])],
            in_stock: r.chance(0.5),
            price_max: r.chance(0.5) ? null : 200,
          },
        };
      case 'Add To Cart':
      case 'Purchase Completed': {
        const items = Array.from({ length: r.int(1, 3) }, () => {
          const product = r.pick(PRODUCTS);
          return { ...product, quantity: r.int(1, 4) };
        });
        const revenue =
          Math.round(items.reduce((sum, item) => sum + item.price * item.quantity, 0) * 100) / 100;
        return {
          items,
          revenue,
          currency: r.pick(['USD', 'EUR', 'BRL']),
          coupon: r.chance(0.2) ? 'SPRING,24' : null,
          note: r.chance(0.2) ? messy() : '',
        };
      }
      case 'Video Played':
        return {
          video_id: `v_${r.hex(8)}`,
          title: r.chance(0.3) ? messy() : 'Getting started in 5 minutes',
          duration_s: r.int(10, 3600),
          position_s: r.int(0, 600),
          quality: r.pick(['auto', '720p', '1080p']),
          captions: r.chance(0.5),
        };
      case 'Share':
        return {
          channel: r.pick(['email', 'whatsapp', 'copy_link']),
          message: messy(),
          url: 'https://example.com/p/123?ref=share&utm_source=app',
        };
      case 'Error Occurred':
        return {
          message: 'TypeError: cannot read properties of undefined (reading "id")',
          stack: 'at render (app.js:10:5)\n\tat C:\\build\\src\\view.tsx:42:7\n\tat "quoted frame"',
          code: r.int(400, 599),
          context: { route: r.pick(PAGES), retries: r.int(0, 3), flags: ['beta', 'dark_mode'] },
        };
      case 'Sign Up':
        return {
          method: r.pick(['google', 'email', 'apple']),
          referral_code: r.chance(0.3) ? messy() : null,
          marketing_opt_in: r.chance(0.5),
        };
      default:
        return { trigger: r.pick(['cold_start', 'resume']), battery: r.int(1, 100) };
    }
  }

  private userProperties(user: SampleUser): Record<string, unknown> {
    const r = this.random;
    return {
      plan: user.plan,
      cohort: user.cohort,
      initial_referrer: r.chance(0.3) ? 'https://www.google.com/' : 'EMPTY',
      initial_utm_campaign: r.chance(0.2) ? r.pick(MESSY_STRINGS) : 'spring_24',
      interests: ['running', r.pick(['hiking', 'yoga', 'cycling'])],
      notifications: { email: r.chance(0.5), push: r.chance(0.5) },
      favorite_emoji: r.chance(0.1) ? '🏃‍♀️' : null,
      lifetime_value: Math.round(r.next() * 100_000) / 100,
    };
  }

  private data(user: SampleUser): Record<string, unknown> {
    const r = this.random;
    const data: Record<string, unknown> = { path: '/2/httpapi', user_properties_updated: r.chance(0.3) };
    if (r.chance(0.05)) data.first_event = true;
    if (r.chance(0.02)) data.merged_amplitude_id = user.amplitudeId - r.int(1, 1000);
    return data;
  }
}
